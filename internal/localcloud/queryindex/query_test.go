package queryindex

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

func uniqueTable() string { return fmt.Sprintf("t-%d", time.Now().UnixNano()) }

// TestQueryProjectsAnIndexsKeysOnly checks a KEYS_ONLY index returns the
// table's and the index's keys, and nothing else, which kumo does not do.
func TestQueryProjectsAnIndexsKeysOnly(t *testing.T) {
	is := is.New(t)
	f := newFront(t)
	name := uniqueTable()
	f.createTable(name)
	f.do("PutItem", map[string]any{"TableName": name, "Item": map[string]any{"p": s("a"), "s": n(1), "g": s("x"), "v": s("secret")}})
	page := f.query(map[string]any{"TableName": name, "IndexName": "by-k", "KeyConditionExpression": "g = :g",
		"ExpressionAttributeValues": map[string]any{":g": s("x")}})
	is.Equal(string(page["Items"]), `[{"g":{"S":"x"},"p":{"S":"a"},"s":{"N":"1"}}]`) // keys only
}

// TestQueryCounts checks Select COUNT counts without items.
func TestQueryCounts(t *testing.T) {
	is := is.New(t)
	f := newFront(t)
	name := uniqueTable()
	f.createTable(name)
	for i := range 5 {
		f.do("PutItem", map[string]any{"TableName": name, "Item": map[string]any{"p": s("a"), "s": n(i)}})
	}
	page := f.query(map[string]any{"TableName": name, "Select": "COUNT", "KeyConditionExpression": "p = :p AND s >= :s",
		"ExpressionAttributeValues": map[string]any{":p": s("a"), ":s": n(2)}})
	is.Equal(string(page["Count"]), "3") // items 2, 3 and 4
	is.Equal(page["Items"], nil)         // no items with COUNT
}

// TestQueryPagesAtOneMegabyte checks a Query stops at 1 MB, as DynamoDB
// does, where kumo answers everything at once.
func TestQueryPagesAtOneMegabyte(t *testing.T) {
	is := is.New(t)
	f := newFront(t)
	name := uniqueTable()
	f.createTable(name)
	big := strings.Repeat("x", 100_000)
	for i := range 25 {
		f.do("PutItem", map[string]any{"TableName": name, "Item": map[string]any{"p": s("a"), "s": n(i), "v": s(big)}})
	}
	q := map[string]any{"TableName": name, "KeyConditionExpression": "p = :p", "ExpressionAttributeValues": map[string]any{":p": s("a")}}
	var counts []string
	for {
		page := f.query(q)
		counts = append(counts, string(page["Count"]))
		if page["LastEvaluatedKey"] == nil {
			break
		}
		q["ExclusiveStartKey"] = page["LastEvaluatedKey"]
	}
	is.Equal(counts, []string{"11", "11", "3"}) // 11 items pass 1 MB, then the rest
}

// TestQueryBeginsWith checks begins_with on a string sort key.
func TestQueryBeginsWith(t *testing.T) {
	is := is.New(t)
	f := newFront(t)
	name := uniqueTable()
	status, _ := f.do("CreateTable", map[string]any{
		"TableName": name, "BillingMode": "PAY_PER_REQUEST",
		"AttributeDefinitions": []map[string]string{{"AttributeName": "p", "AttributeType": "S"}, {"AttributeName": "r", "AttributeType": "S"}},
		"KeySchema":            []map[string]string{{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}},
	})
	is.Equal(status, http.StatusOK) // CreateTable
	for _, r := range []string{"2026-09-30", "2026-10-01", "2026-10-31", "2026-11-01"} {
		f.do("PutItem", map[string]any{"TableName": name, "Item": map[string]any{"p": s("a"), "r": s(r)}})
	}
	page := f.query(map[string]any{"TableName": name, "KeyConditionExpression": "(p = :p) AND (begins_with (r, :m))",
		"ScanIndexForward": false, "ExpressionAttributeValues": map[string]any{":p": s("a"), ":m": s("2026-10")}})
	is.Equal(string(page["Items"]), `[{"p":{"S":"a"},"r":{"S":"2026-10-31"}},{"p":{"S":"a"},"r":{"S":"2026-10-01"}}]`) // October, newest first
}

// TestQueryLeavesToKumo checks what the index declines: a table it did
// not see created, a filter, a document path, a condition on a non-key
// attribute; and that a write kumo did not answer stops it following.
func TestQueryLeavesToKumo(t *testing.T) {
	is := is.New(t)
	f := newFront(t)
	name := uniqueTable()
	f.createTable(name)
	declined := func(q map[string]any) bool {
		b, _ := json.Marshal(q)
		_, ok := f.index.Query(b)
		return !ok
	}
	key := map[string]any{":p": s("a")}
	is.True(declined(map[string]any{"TableName": "never-seen", "KeyConditionExpression": "p = :p", "ExpressionAttributeValues": key}))
	is.True(declined(map[string]any{"TableName": name, "KeyConditionExpression": "p = :p", "FilterExpression": "v = :p", "ExpressionAttributeValues": key}))
	is.True(declined(map[string]any{"TableName": name, "KeyConditionExpression": "p = :p", "ProjectionExpression": "v.w", "ExpressionAttributeValues": key}))
	is.True(declined(map[string]any{"TableName": name, "KeyConditionExpression": "v = :p", "ExpressionAttributeValues": key}))
	is.True(!declined(map[string]any{"TableName": name, "KeyConditionExpression": "p = :p", "ExpressionAttributeValues": key}))

	release := f.index.Hold("PutItem") // kumo never answers this one
	release()
	is.True(declined(map[string]any{"TableName": name, "KeyConditionExpression": "p = :p", "ExpressionAttributeValues": key}))
}

// TestSweepDropsExpiredItems checks the index deletes items whose TTL
// has passed, as kumo's sweep does, once 30 seconds have gone by.
func TestSweepDropsExpiredItems(t *testing.T) {
	is := is.New(t)
	f := newFront(t)
	now := time.Unix(1_800_000_000, 0)
	f.index.now = func() time.Time { return now }
	name := uniqueTable()
	f.createTable(name)
	status, _ := f.do("UpdateTimeToLive", map[string]any{"TableName": name,
		"TimeToLiveSpecification": map[string]any{"AttributeName": "exp", "Enabled": true}})
	is.Equal(status, http.StatusOK) // UpdateTimeToLive
	f.do("PutItem", map[string]any{"TableName": name, "Item": map[string]any{"p": s("a"), "s": n(1), "exp": n(1_800_000_010)}})
	f.do("PutItem", map[string]any{"TableName": name, "Item": map[string]any{"p": s("a"), "s": n(2), "exp": n(1_900_000_000)}})
	q := map[string]any{"TableName": name, "KeyConditionExpression": "p = :p", "ExpressionAttributeValues": map[string]any{":p": s("a")}}
	is.Equal(string(f.query(q)["Count"]), "2") // none expired
	now = now.Add(31 * time.Second)
	is.Equal(string(f.query(q)["Count"]), "1") // the first expired and was swept
}

// TestPageAfterTheLastItemMoved checks the next page starts where the
// last one ended even when its last item's index sort key changed in
// between, as on DynamoDB: the ExclusiveStartKey's values place it.
func TestPageAfterTheLastItemMoved(t *testing.T) {
	is := is.New(t)
	f := newFront(t)
	name := uniqueTable()
	status, _ := f.do("CreateTable", map[string]any{
		"TableName": name, "BillingMode": "PAY_PER_REQUEST",
		"AttributeDefinitions": []map[string]string{{"AttributeName": "p", "AttributeType": "S"},
			{"AttributeName": "g", "AttributeType": "S"}, {"AttributeName": "r", "AttributeType": "N"}},
		"KeySchema": []map[string]string{{"AttributeName": "p", "KeyType": "HASH"}},
		"GlobalSecondaryIndexes": []map[string]any{{"IndexName": "by-g",
			"KeySchema":  []map[string]string{{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}},
			"Projection": map[string]string{"ProjectionType": "ALL"}}},
	})
	is.Equal(status, http.StatusOK) // CreateTable
	for i := 1; i <= 4; i++ {
		f.do("PutItem", map[string]any{"TableName": name, "Item": map[string]any{"p": s(fmt.Sprint("a", i)), "g": s("x"), "r": n(i)}})
	}
	q := map[string]any{"TableName": name, "IndexName": "by-g", "KeyConditionExpression": "g = :g", "Limit": 2,
		"ExpressionAttributeValues": map[string]any{":g": s("x")}}
	first := f.query(q)
	is.Equal(string(first["Count"]), "2") // a1, a2
	f.do("UpdateItem", map[string]any{"TableName": name, "Key": map[string]any{"p": s("a2")},
		"UpdateExpression": "SET r = :r", "ExpressionAttributeValues": map[string]any{":r": n(10)}})
	q["ExclusiveStartKey"] = first["LastEvaluatedKey"]
	next := f.query(q)
	is.Equal(string(next["Items"]), `[{"g":{"S":"x"},"p":{"S":"a3"},"r":{"N":"3"}},{"g":{"S":"x"},"p":{"S":"a4"},"r":{"N":"4"}}]`) // a3 and a4, none skipped
}

// TestLocalIndexThatProjectsLessIsKumos checks the index declines a local
// index that does not project every attribute: DynamoDB fetches the rest
// from the table, which the index does not do.
func TestLocalIndexThatProjectsLessIsKumos(t *testing.T) {
	is := is.New(t)
	f := newFront(t)
	name := uniqueTable()
	local := func(index, projection string) map[string]any {
		return map[string]any{"IndexName": index,
			"KeySchema":  []map[string]string{{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}},
			"Projection": map[string]string{"ProjectionType": projection}}
	}
	status, _ := f.do("CreateTable", map[string]any{
		"TableName": name, "BillingMode": "PAY_PER_REQUEST",
		"AttributeDefinitions": []map[string]string{{"AttributeName": "p", "AttributeType": "S"},
			{"AttributeName": "s", "AttributeType": "N"}, {"AttributeName": "r", "AttributeType": "N"}},
		"KeySchema":             []map[string]string{{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "s", "KeyType": "RANGE"}},
		"LocalSecondaryIndexes": []map[string]any{local("by-r-keys", "KEYS_ONLY"), local("by-r-all", "ALL")},
	})
	is.Equal(status, http.StatusOK) // CreateTable
	answered := func(index string) bool {
		b, _ := json.Marshal(map[string]any{"TableName": name, "IndexName": index, "KeyConditionExpression": "p = :p",
			"ExpressionAttributeValues": map[string]any{":p": s("a")}})
		_, ok := f.index.Query(b)
		return ok
	}
	is.True(!answered("by-r-keys")) // kumo's
	is.True(answered("by-r-all"))   // the index's
}
