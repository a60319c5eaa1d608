package localsecrets

import (
	"strings"
	"time"
)

// passwordOptions is AWS's GetRandomPasswordRequest shape.
type passwordOptions struct {
	PasswordLength          *int64 `json:"PasswordLength"`
	ExcludeCharacters       string `json:"ExcludeCharacters"`
	ExcludeNumbers          bool   `json:"ExcludeNumbers"`
	ExcludePunctuation      bool   `json:"ExcludePunctuation"`
	ExcludeUppercase        bool   `json:"ExcludeUppercase"`
	ExcludeLowercase        bool   `json:"ExcludeLowercase"`
	IncludeSpace            bool   `json:"IncludeSpace"`
	RequireEachIncludedType *bool  `json:"RequireEachIncludedType"`
}

// punctuation is the set AWS draws punctuation from (ASCII's, as in its
// documented ExcludePunctuation list).
const punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// passwordClasses returns the character classes the options include, each
// without the excluded characters; a class left empty is dropped.
func passwordClasses(o passwordOptions) []string {
	var classes []string
	add := func(skip bool, chars string) {
		chars = strings.Map(func(r rune) rune {
			if strings.ContainsRune(o.ExcludeCharacters, r) {
				return -1
			}
			return r
		}, chars)
		if !skip && chars != "" {
			classes = append(classes, chars)
		}
	}
	add(o.ExcludeLowercase, "abcdefghijklmnopqrstuvwxyz")
	add(o.ExcludeUppercase, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	add(o.ExcludeNumbers, "0123456789")
	add(o.ExcludePunctuation, punctuation)
	add(!o.IncludeSpace, " ")
	return classes
}

type getRandomPasswordOutput struct {
	RandomPassword string `json:"RandomPassword"`
}

func (s *Store) getRandomPassword(in *passwordOptions, _ time.Time) (any, error) {
	length := int64(32) // AWS's default
	if in.PasswordLength != nil {
		length = *in.PasswordLength
	}
	switch {
	case length < 1:
		return nil, errValidation(length, "passwordLength", "have value greater than or equal to 1")
	case length > 4096:
		return nil, errValidation(length, "passwordLength", "have value less than or equal to 4096")
	}
	classes := passwordClasses(*in)
	requireEach := in.RequireEachIncludedType == nil || *in.RequireEachIncludedType
	switch {
	case len(classes) == 0:
		return nil, errInvalidParameter("The password has no characters to draw from: every character type is excluded.")
	case requireEach && int(length) < len(classes):
		return nil, errInvalidParameter("Password length is too short based on the required types.")
	}
	return getRandomPasswordOutput{RandomPassword: s.password(int(length), classes, requireEach)}, nil
}

// password draws length characters from classes with the store's
// cryptographically strong generator; requireEach puts at least one
// character of every class in it. length must be at least len(classes) when
// requireEach is set.
func (s *Store) password(length int, classes []string, requireEach bool) string {
	pw := make([]byte, 0, length)
	if requireEach {
		for _, c := range classes {
			pw = append(pw, c[s.rng.IntN(len(c))])
		}
	}
	all := strings.Join(classes, "")
	for len(pw) < length {
		pw = append(pw, all[s.rng.IntN(len(all))])
	}
	s.rng.Shuffle(len(pw), func(i, j int) { pw[i], pw[j] = pw[j], pw[i] })
	return string(pw)
}
