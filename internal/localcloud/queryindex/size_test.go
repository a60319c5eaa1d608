package queryindex

import (
	"encoding/json"
	"testing"

	"github.com/matryer/is"
)

// TestItemSize checks items are counted as DynamoDB counts them for the
// 1 MB page: names and values, not the JSON around them.
func TestItemSize(t *testing.T) {
	for _, tt := range []struct {
		item string
		want int
	}{
		{`{"name":{"S":"abc"}}`, 4 + 3},
		{`{"n":{"N":"123.45"}}`, 1 + 4}, // 5 significant digits: 3 bytes, plus 1
		{`{"n":{"N":"1000"}}`, 1 + 2},   // trailing zeros are not significant
		{`{"b":{"B":"AAEC"}}`, 1 + 3},   // three bytes
		{`{"t":{"BOOL":true},"z":{"NULL":true}}`, 2 + 2},
		{`{"l":{"L":[{"S":"a"},{"N":"1"}]}}`, 1 + 3 + (1 + 1) + (1 + 2)},
		{`{"m":{"M":{"k":{"S":"v"}}}}`, 1 + 3 + (1 + 1 + 1)},
		{`{"ss":{"SS":["ab","c"]}}`, 2 + 3},
	} {
		is := is.New(t)
		var attrs map[string]json.RawMessage
		is.NoErr(json.Unmarshal([]byte(tt.item), &attrs))
		is.Equal(itemSize(attrs), tt.want) // tt.item
	}
}
