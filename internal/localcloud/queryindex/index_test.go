package queryindex

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/sivchari/kumo"
)

// front stands for the cloud's front in these tests: every write goes
// to kumo under the index's lock and is then applied, as the front does.
type front struct {
	t     *testing.T
	url   string
	index *Index
}

func newFront(t *testing.T) *front {
	t.Helper()
	k := kumo.NewServer()
	t.Cleanup(k.Close)
	return &front{t: t, url: k.URL, index: New(KumoGet(http.DefaultClient, k.URL), time.Now, t.Logf)}
}

// kumo sends one request straight to kumo.
func (f *front) kumo(op string, body any) (int, []byte) {
	f.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		f.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, f.url, bytes.NewReader(b))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp.StatusCode, out
}

// do sends a request as the front does: a write held and applied.
func (f *front) do(op string, body any) (int, []byte) {
	f.t.Helper()
	release := f.index.Hold(op)
	defer release()
	b, _ := json.Marshal(body)
	status, out := f.kumo(op, body)
	f.index.Apply(op, b, status, out)
	return status, out
}

// query is a Query answered by the index; it fails the test if the
// index declines it.
func (f *front) query(body any) map[string]json.RawMessage {
	f.t.Helper()
	b, _ := json.Marshal(body)
	out, ok := f.index.Query(b)
	if !ok {
		f.t.Fatalf("the index declined %s", b)
	}
	var page map[string]json.RawMessage
	if err := json.Unmarshal(out, &page); err != nil {
		f.t.Fatalf("index answer %s: %v", out, err)
	}
	return page
}

func s(v string) map[string]string { return map[string]string{"S": v} }
func n(v int) map[string]string    { return map[string]string{"N": fmt.Sprint(v)} }

// createTable makes a table keyed (p, s:N) with a sparse index by-g on
// (g, s) and an index by-k that projects only keys.
func (f *front) createTable(name string) {
	f.t.Helper()
	status, out := f.do("CreateTable", map[string]any{
		"TableName":   name,
		"BillingMode": "PAY_PER_REQUEST",
		"AttributeDefinitions": []map[string]string{
			{"AttributeName": "p", "AttributeType": "S"}, {"AttributeName": "s", "AttributeType": "N"},
			{"AttributeName": "g", "AttributeType": "S"},
		},
		"KeySchema": []map[string]string{{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "s", "KeyType": "RANGE"}},
		"GlobalSecondaryIndexes": []map[string]any{
			{"IndexName": "by-g", "KeySchema": []map[string]string{{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "s", "KeyType": "RANGE"}},
				"Projection": map[string]string{"ProjectionType": "ALL"}},
			{"IndexName": "by-k", "KeySchema": []map[string]string{{"AttributeName": "g", "KeyType": "HASH"}},
				"Projection": map[string]string{"ProjectionType": "KEYS_ONLY"}},
		},
	})
	if status != http.StatusOK {
		f.t.Fatalf("CreateTable: %d %s", status, out)
	}
}

// TestQueriesAgreeWithKumo drives the index and kumo with the same random
// writes (puts, deletes, updates that add or drop an index key, batches,
// transactions) and checks every Query, followed page by page through
// the index, returns what kumo returns in one answer.
func TestQueriesAgreeWithKumo(t *testing.T) {
	is := is.New(t)
	f := newFront(t)
	name := fmt.Sprintf("agree-%d", time.Now().UnixNano())
	f.createTable(name)
	rng := rand.New(rand.NewPCG(1, 2))
	item := func() map[string]any {
		it := map[string]any{"p": s(fmt.Sprint("p", rng.IntN(3))), "s": n(rng.IntN(30) - 10), "v": s(strings.Repeat("x", rng.IntN(40)))}
		if rng.IntN(3) > 0 {
			it["g"] = s(fmt.Sprint("g", rng.IntN(2)))
		}
		return it
	}
	key := func() map[string]any { it := item(); return map[string]any{"p": it["p"], "s": it["s"]} }
	for step := range 400 {
		switch rng.IntN(6) {
		case 0, 1:
			f.do("PutItem", map[string]any{"TableName": name, "Item": item()})
		case 2:
			f.do("DeleteItem", map[string]any{"TableName": name, "Key": key()})
		case 3:
			upd := map[string]any{"TableName": name, "Key": key(), "UpdateExpression": "SET g = :g, v = :v",
				"ExpressionAttributeValues": map[string]any{":g": s("g1"), ":v": s("updated")}}
			if rng.IntN(2) == 0 {
				upd = map[string]any{"TableName": name, "Key": key(), "UpdateExpression": "REMOVE g"}
			}
			f.do("UpdateItem", upd)
		case 4:
			var reqs []map[string]any
			seen := map[string]bool{}
			for range rng.IntN(6) + 1 {
				it := item()
				k := fmt.Sprint(it["p"], it["s"])
				if seen[k] {
					continue
				}
				seen[k] = true
				if rng.IntN(3) == 0 {
					reqs = append(reqs, map[string]any{"DeleteRequest": map[string]any{"Key": map[string]any{"p": it["p"], "s": it["s"]}}})
				} else {
					reqs = append(reqs, map[string]any{"PutRequest": map[string]any{"Item": it}})
				}
			}
			f.do("BatchWriteItem", map[string]any{"RequestItems": map[string]any{name: reqs}})
		case 5:
			f.do("TransactWriteItems", map[string]any{"TransactItems": []map[string]any{
				{"Put": map[string]any{"TableName": name, "Item": item()}},
				{"Delete": map[string]any{"TableName": name, "Key": key()}},
			}})
		}
		if step%20 == 19 {
			for range 10 {
				q := randomQuery(rng, name)
				want := f.kumoItems(q)
				got, pages := f.indexItems(q)
				is.Equal(got, want) // the index's items are kumo's, in order
				if limit, ok := q["Limit"].(int); ok {
					is.True(pages >= (len(got)+limit-1)/limit) // pages of at most Limit items
				}
			}
		}
	}
}

// randomQuery is a Query of the table or its by-g index with a random
// sort key condition, direction, Limit and projection.
func randomQuery(rng *rand.Rand, table string) map[string]any {
	q := map[string]any{"TableName": table}
	names := map[string]string{"#s": "s"}
	values := map[string]any{":a": n(rng.IntN(30) - 10), ":b": n(rng.IntN(30) - 10)}
	if rng.IntN(2) == 0 {
		q["IndexName"] = "by-g"
		names["#p"] = "g"
		values[":p"] = s(fmt.Sprint("g", rng.IntN(2)))
	} else {
		names["#p"] = "p"
		values[":p"] = s(fmt.Sprint("p", rng.IntN(3)))
	}
	conds := []string{"", " AND #s = :a", " AND #s < :a", " AND #s <= :a", " AND (#s > :a)", " AND #s >= :a", " AND #s BETWEEN :a AND :b"}
	q["KeyConditionExpression"] = "(#p = :p)" + conds[rng.IntN(len(conds))]
	if !strings.Contains(q["KeyConditionExpression"].(string), ":a") {
		delete(values, ":a")
	}
	if !strings.Contains(q["KeyConditionExpression"].(string), ":b") {
		delete(values, ":b")
	}
	if rng.IntN(2) == 0 {
		q["ScanIndexForward"] = false
	}
	if rng.IntN(2) == 0 {
		q["Limit"] = rng.IntN(4) + 1
	}
	if rng.IntN(3) == 0 {
		q["ProjectionExpression"] = "#p, #s, v"
	}
	q["ExpressionAttributeNames"], q["ExpressionAttributeValues"] = names, values
	return q
}

// kumoItems is kumo's answer to a Query, in one page.
func (f *front) kumoItems(q map[string]any) []string {
	f.t.Helper()
	one := maps(q)
	delete(one, "Limit")
	status, out := f.kumo("Query", one)
	if status != http.StatusOK {
		f.t.Fatalf("kumo Query: %d %s", status, out)
	}
	var page struct{ Items []map[string]any }
	if err := json.Unmarshal(out, &page); err != nil {
		f.t.Fatal(err)
	}
	return canonical(page.Items, q["IndexName"] != nil)
}

// indexItems is the index's answer, every page followed.
func (f *front) indexItems(q map[string]any) ([]string, int) {
	f.t.Helper()
	var all []map[string]any
	pages := 0
	next := maps(q)
	for {
		page := f.query(next)
		pages++
		var items []map[string]any
		_ = json.Unmarshal(page["Items"], &items)
		all = append(all, items...)
		if page["LastEvaluatedKey"] == nil {
			break
		}
		next["ExclusiveStartKey"] = page["LastEvaluatedKey"]
	}
	return canonical(all, q["IndexName"] != nil), pages
}

// canonical writes items as JSON; in an index, items with the same sort
// key come in no defined order, so each run of them is sorted.
func canonical(items []map[string]any, index bool) []string {
	out := make([]string, len(items))
	for i, it := range items {
		b, _ := json.Marshal(it)
		out[i] = string(b)
	}
	if !index {
		return out
	}
	sortKey := func(i int) string { b, _ := json.Marshal(items[i]["s"]); return string(b) }
	for i := 0; i < len(out); {
		j := i + 1
		for j < len(out) && sortKey(j) == sortKey(i) {
			j++
		}
		slices.Sort(out[i:j])
		i = j
	}
	return out
}

func maps(q map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range q {
		out[k] = v
	}
	return out
}
