package queryindex

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
)

// keyVal is a key attribute's value: DynamoDB keys are strings, numbers or
// binary. s is the value as the wire carries it (a number's decimal text,
// binary's base64).
type keyVal struct {
	typ byte // 'S', 'N' or 'B'; 0 when the item has no such attribute
	s   string
}

func (v keyVal) present() bool { return v.typ != 0 }

// parseKeyVal reads a key attribute's wire value ({"S":"x"}); ok is false
// for any other type, which cannot be a key.
func parseKeyVal(raw json.RawMessage) (keyVal, bool) {
	var av struct{ S, N, B *string }
	if json.Unmarshal(raw, &av) != nil {
		return keyVal{}, false
	}
	switch {
	case av.S != nil:
		return keyVal{'S', *av.S}, true
	case av.N != nil:
		if _, ok := new(big.Rat).SetString(*av.N); !ok {
			return keyVal{}, false
		}
		return keyVal{'N', *av.N}, true
	case av.B != nil:
		return keyVal{'B', *av.B}, true
	}
	return keyVal{}, false
}

// wire is the value as DynamoDB JSON.
func (v keyVal) wire() json.RawMessage {
	b, _ := json.Marshal(map[string]string{string(v.typ): v.s})
	return b
}

// compare orders two values of one type as DynamoDB does: strings and
// binary by their bytes, numbers by value.
func compare(a, b keyVal) int {
	if a.typ != b.typ {
		return int(a.typ) - int(b.typ)
	}
	switch a.typ {
	case 'N':
		x, _ := new(big.Rat).SetString(a.s)
		y, _ := new(big.Rat).SetString(b.s)
		return x.Cmp(y)
	case 'B':
		return bytes.Compare(decodeB(a.s), decodeB(b.s))
	}
	return strings.Compare(a.s, b.s)
}

// hasPrefix is begins_with for strings and binary.
func hasPrefix(v, prefix keyVal) bool {
	switch {
	case v.typ != prefix.typ:
		return false
	case v.typ == 'S':
		return strings.HasPrefix(v.s, prefix.s)
	case v.typ == 'B':
		return bytes.HasPrefix(decodeB(v.s), decodeB(prefix.s))
	}
	return false
}

func decodeB(s string) []byte {
	b, _ := base64.StdEncoding.DecodeString(s)
	return b
}

// encode is a value as a map key: the type, then the value (a number in
// one canonical form, since 1 and 1.0 are the same key).
func (v keyVal) encode() string {
	if v.typ == 'N' {
		if r, ok := new(big.Rat).SetString(v.s); ok {
			return "N" + r.RatString()
		}
	}
	return string(v.typ) + v.s
}

// primaryKey encodes a table key (partition key, then sort key if any).
func primaryKey(pk, sk keyVal) string {
	if !sk.present() {
		return pk.encode()
	}
	p := pk.encode()
	return fmt.Sprintf("%d:%s%s", len(p), p, sk.encode())
}
