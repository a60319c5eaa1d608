package localsecrets

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// filter is AWS's Filter shape. Key is a pointer because a missing key and
// an unknown key are different errors.
type filter struct {
	Key    *string  `json:"Key"`
	Values []string `json:"Values"`
}

// filterKeys are the keys ListSecrets accepts, in the API reference's order.
var filterKeys = []string{"description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all"}

// filterValuePattern is the pattern AWS's model gives Filter values.
var filterValuePattern = regexp.MustCompile(`^!?[a-zA-Z0-9 :_@/+=.\-!]*$`)

// validateFilters checks filters as AWS does; the messages for a missing key
// or missing values are moto's, since AWS documents none.
func validateFilters(filters []filter) error {
	if len(filters) > 10 {
		return errValidation(len(filters), "filters", "have length less than or equal to 10")
	}
	for i, f := range filters {
		field := fmt.Sprintf("filters.%d.member", i+1)
		switch {
		case f.Key == nil:
			return errInvalidParameter("Invalid filter key")
		case !slices.Contains(filterKeys, *f.Key):
			return errValidation(*f.Key, field+".key", "satisfy enum value set: ["+strings.Join(filterKeys, ", ")+"]")
		case len(f.Values) == 0:
			return errInvalidParameter("Invalid filter values for key: " + *f.Key)
		case len(f.Values) > 10:
			return errValidation(f.Values, field+".values", "have length less than or equal to 10")
		}
		for _, v := range f.Values {
			if len(v) > 512 || !filterValuePattern.MatchString(v) {
				return errValidation(v, field+".values", "satisfy regular expression pattern: "+filterValuePattern.String())
			}
		}
	}
	return nil
}

// matchesAll reports whether sec passes every filter: several filters AND.
func matchesAll(sec *secret, filters []filter) bool {
	for _, f := range filters {
		if !f.matches(sec) {
			return false
		}
	}
	return true
}

// matches reports whether sec passes f: several values OR. A value matches
// when one of the secret's strings for the key matches it; a value that
// starts with ! matches when one of them does not. A secret with no string
// for the key (no tags, no description) matches no value, negated or not.
// These are moto's semantics; AWS documents only "prefix your search value
// with ! to negate".
func (f filter) matches(sec *secret) bool {
	strs, match := attributes(sec, *f.Key)
	for _, v := range f.Values {
		pattern, negated := strings.CutPrefix(v, "!")
		for _, s := range strs {
			if match(pattern, s) != negated {
				return true
			}
		}
	}
	return false
}

// attributes returns the strings of sec that filter key searches and how a
// value matches one of them, per AWS's Filter reference and user guide:
// name, tag-key, tag-value and primary-region are case-sensitive prefixes
// (so tag-key=Managed matches a tag ManagedBy); owning-service is a prefix
// in any case; description and all match words in any case.
func attributes(sec *secret, key string) ([]string, func(pattern, s string) bool) {
	prefix := func(p, s string) bool { return strings.HasPrefix(s, p) }
	var keys, values []string
	for _, t := range sec.tags {
		keys, values = append(keys, t.Key), append(values, t.Value)
	}
	switch key {
	case "name":
		return []string{sec.name}, prefix
	case "tag-key":
		return keys, prefix
	case "tag-value":
		return values, prefix
	case "primary-region":
		return nonEmpty(sec.primaryRegion), prefix
	case "owning-service":
		return nonEmpty(sec.owningService), func(p, s string) bool {
			return strings.HasPrefix(strings.ToLower(s), strings.ToLower(p))
		}
	case "description":
		return nonEmpty(sec.description), wordsMatch
	default: // all
		strs := append([]string{sec.name}, nonEmpty(sec.description)...)
		strs = append(strs, keys...)
		return append(strs, values...), wordsMatch
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// wordsMatch reports whether every word of pattern starts a word of s, in
// any case: "o t" matches "one two". AWS splits both into words the same way.
func wordsMatch(pattern, s string) bool {
	want := splitWords(pattern)
	if len(want) == 0 {
		return false
	}
	have := splitWords(s)
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h string) bool {
			return strings.HasPrefix(strings.ToLower(h), strings.ToLower(w))
		}) {
			return false
		}
	}
	return true
}

// wordSpecials are the characters that split words, in the order moto tries
// them.
const wordSpecials = "/-_+=.@"

// splitWords splits s into search words the way moto does, which its tests
// verified against AWS: at one kind of special character (a string holding
// two kinds is one word), then before each capital that starts a lower-case
// run, so "prod/AppBeta" is prod, App, Beta and "COMPANYthings" is COMPAN,
// Ythings. A lone special character has no words.
func splitWords(s string) []string {
	if len(s) == 1 && strings.Contains(wordSpecials, s) {
		return nil
	}
	for _, c := range wordSpecials {
		if !strings.ContainsRune(s, c) {
			continue
		}
		if strings.ContainsAny(s, strings.ReplaceAll(wordSpecials, string(c), "")) {
			return []string{s}
		}
		return splitCase(strings.Split(s, string(c)))
	}
	return splitCase([]string{s})
}

// caseWord is a character other than a-z followed by a run of a-z, as in
// moto's re.split(r"([^a-z][a-z]+)", s).
var caseWord = regexp.MustCompile(`[^a-z][a-z]+`)

func splitCase(parts []string) []string {
	var words []string
	add := func(w string) {
		if w = strings.TrimSpace(w); w != "" {
			words = append(words, w)
		}
	}
	for _, p := range parts {
		last := 0
		for _, m := range caseWord.FindAllStringIndex(p, -1) {
			add(p[last:m[0]])
			add(p[m[0]:m[1]])
			last = m[1]
		}
		add(p[last:])
	}
	return words
}
