package queryindex

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// itemSize is an item's size as DynamoDB counts it against the 1 MB page:
// each attribute's name and value in bytes, a string's UTF-8 bytes, a
// number about one byte per two significant digits plus one, binary its
// bytes, a boolean or null one byte, a list or map 3 bytes plus one per
// element and its elements, a set its elements
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).
func itemSize(attrs map[string]json.RawMessage) int {
	n := 0
	for name, v := range attrs {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(raw json.RawMessage) int {
	var av struct {
		S, N, B    *string
		BOOL, NULL *bool
		SS, NS, BS []string
		L          []json.RawMessage
		M          map[string]json.RawMessage
	}
	if json.Unmarshal(raw, &av) != nil {
		return len(raw)
	}
	n := 0
	switch {
	case av.S != nil:
		n = len(*av.S)
	case av.N != nil:
		n = numberSize(*av.N)
	case av.B != nil:
		n = base64.StdEncoding.DecodedLen(len(*av.B))
	case av.BOOL != nil, av.NULL != nil:
		n = 1
	case av.L != nil:
		n = 3
		for _, e := range av.L {
			n += 1 + valueSize(e)
		}
	case av.M != nil:
		n = 3
		for k, e := range av.M {
			n += 1 + len(k) + valueSize(e)
		}
	}
	for _, e := range av.SS {
		n += len(e)
	}
	for _, e := range av.NS {
		n += numberSize(e)
	}
	for _, e := range av.BS {
		n += base64.StdEncoding.DecodedLen(len(e))
	}
	return n
}

// numberSize is about one byte per two significant digits, plus one.
func numberSize(s string) int {
	digits := strings.Trim(strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, strings.SplitN(strings.ToLower(s), "e", 2)[0]), "0")
	return (len(digits)+1)/2 + 1
}
