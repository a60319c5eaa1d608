package queryindex

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Op is a DynamoDB request's operation, from its X-Amz-Target header
// (DynamoDB_20120810.PutItem), or "" for a request of another service.
func Op(r *http.Request) string {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	if !ok {
		return ""
	}
	return op
}

// reads are the operations that change no item; every other operation
// the index does not follow (PartiQL, restores, imports) makes it stop
// answering for every table, and kumo answers from then on.
var reads = map[string]bool{
	"GetItem": true, "BatchGetItem": true, "Query": true, "Scan": true, "TransactGetItems": true,
	"DescribeTable": true, "ListTables": true, "DescribeTimeToLive": true, "DescribeContinuousBackups": true,
	"ListTagsOfResource": true, "TagResource": true, "UntagResource": true, "DescribeEndpoints": true,
	"DescribeLimits": true, "UpdateContinuousBackups": true,
}

// Hold takes the index's lock for an operation that may change items
// and returns its release; the caller holds it while kumo serves the
// request and Apply follows it, so the copy changes in kumo's order.
// Reads need no lock. A write released without Apply (kumo did not
// answer, so it may or may not have applied it) stops the index
// following any table.
func (ix *Index) Hold(op string) func() {
	if op == "" || reads[op] {
		return func() {}
	}
	ix.mu.Lock()
	ix.pending = true
	return func() {
		if ix.pending {
			ix.unfollow("a write got no answer from kumo")
			ix.pending = false
		}
		ix.mu.Unlock()
	}
}

// Apply follows a request kumo answered with status and body; the caller
// holds the lock Hold took.
func (ix *Index) Apply(op string, req []byte, status int, resp []byte) {
	if op == "" || reads[op] {
		return
	}
	ix.pending = false
	ok := status == http.StatusOK
	switch op {
	case "CreateTable":
		if ok {
			ix.applyCreate(req)
		}
	case "DeleteTable":
		if ok {
			delete(ix.tables, tableName(req))
		}
	case "UpdateTable":
		ix.applyUpdateTable(req, ok)
	case "UpdateTimeToLive":
		if ok {
			ix.applyTTL(req)
		}
	case "PutItem", "DeleteItem", "UpdateItem":
		ix.applyItem(op, req, ok)
	case "BatchWriteItem":
		ix.applyBatch(req, resp, status)
	case "TransactWriteItems":
		ix.applyTransact(req, status)
	default:
		ix.unfollow(op + " is not an operation the index follows")
	}
}

func tableName(req []byte) string {
	var r struct{ TableName string }
	_ = json.Unmarshal(req, &r)
	return r.TableName
}

type keySchema []struct{ AttributeName, KeyType string }

func (k keySchema) def() keyDef {
	var d keyDef
	for _, e := range k {
		switch e.KeyType {
		case "HASH":
			d.pk = e.AttributeName
		case "RANGE":
			d.sk = e.AttributeName
		}
	}
	return d
}

type indexSpec struct {
	IndexName  string
	KeySchema  keySchema
	Projection struct {
		ProjectionType   string
		NonKeyAttributes []string
	}
}

func (s indexSpec) def() indexDef {
	d := indexDef{keyDef: s.KeySchema.def(), projection: s.Projection.ProjectionType, include: map[string]bool{}}
	if d.projection == "" {
		d.projection = "ALL"
	}
	for _, a := range s.Projection.NonKeyAttributes {
		d.include[a] = true
	}
	return d
}

func (ix *Index) applyCreate(req []byte) {
	var r struct {
		TableName              string
		KeySchema              keySchema
		GlobalSecondaryIndexes []indexSpec
		LocalSecondaryIndexes  []indexSpec
	}
	if json.Unmarshal(req, &r) != nil || r.TableName == "" || strings.Contains(r.TableName, ":") {
		return
	}
	key := r.KeySchema.def()
	if key.pk == "" {
		return
	}
	indexes := map[string]indexDef{}
	for i, s := range append(r.GlobalSecondaryIndexes, r.LocalSecondaryIndexes...) {
		d := s.def()
		if s.IndexName == "" || d.pk == "" {
			return
		}
		d.local = i >= len(r.GlobalSecondaryIndexes)
		indexes[s.IndexName] = d
	}
	ix.createTable(r.TableName, key, indexes)
}

// applyUpdateTable stops following a table whose indexes or keys change
// (or whose change kumo refused in part): kumo answers its Queries.
func (ix *Index) applyUpdateTable(req []byte, ok bool) {
	var r struct {
		TableName                   string
		GlobalSecondaryIndexUpdates json.RawMessage
		AttributeDefinitions        json.RawMessage
	}
	if json.Unmarshal(req, &r) != nil {
		ix.unfollow("an UpdateTable it cannot read")
		return
	}
	if ok && r.GlobalSecondaryIndexUpdates == nil && r.AttributeDefinitions == nil {
		return
	}
	ix.unfollow("UpdateTable changes its indexes", r.TableName)
}

func (ix *Index) applyTTL(req []byte) {
	var r struct {
		TableName               string
		TimeToLiveSpecification struct {
			AttributeName string
			Enabled       bool
		}
	}
	if json.Unmarshal(req, &r) != nil {
		return
	}
	t, ok := ix.tables[r.TableName]
	if !ok {
		return
	}
	t.ttl = ""
	if r.TimeToLiveSpecification.Enabled {
		t.ttl = r.TimeToLiveSpecification.AttributeName
		t.keepAttrs(t.ttl)
	}
	// Every entry keeps its values in the order of t.attrs: read them again.
	for _, e := range t.items {
		ne, _ := t.newEntry(e.raw)
		e.keys = ne.keys
	}
}

// applyItem follows a single-item write. A write kumo refused changed
// nothing; an UpdateItem's result is read back from kumo.
func (ix *Index) applyItem(op string, req []byte, ok bool) {
	var r struct {
		TableName string
		Item, Key json.RawMessage
	}
	if json.Unmarshal(req, &r) != nil {
		ix.unfollow("a " + op + " it cannot read")
		return
	}
	t, tracked := ix.tables[r.TableName]
	if !tracked || !ok {
		return
	}
	if !ix.write(t, r.TableName, op, r.Item, r.Key) {
		ix.unfollow("a "+op+" it could not follow", r.TableName)
	}
}

// write applies one Put (item), Delete or Update (key) to a table, and
// says false when it could not follow it.
func (ix *Index) write(t *table, name, op string, item, key json.RawMessage) bool {
	switch op {
	case "PutItem", "Put":
		e, ok := t.newEntry(item)
		if !ok {
			return false
		}
		t.put(e)
	case "DeleteItem", "Delete":
		e, ok := t.newEntry(key)
		if !ok {
			return false
		}
		t.remove(e.pkey)
	case "UpdateItem", "Update":
		k, ok := t.newEntry(key)
		if !ok {
			return false
		}
		got, found, err := ix.get(name, key)
		if err != nil {
			return false
		}
		if !found {
			t.remove(k.pkey)
			return true
		}
		e, ok := t.newEntry(got)
		if !ok {
			return false
		}
		t.put(e)
	}
	return true
}

type writeRequest struct {
	PutRequest    *struct{ Item json.RawMessage }
	DeleteRequest *struct{ Key json.RawMessage }
}

// applyBatch follows a BatchWriteItem: every request but those kumo
// returns unprocessed. kumo may apply part of a batch it then refuses,
// so a refused batch stops the index following its tables.
func (ix *Index) applyBatch(req, resp []byte, status int) {
	var r struct{ RequestItems map[string][]writeRequest }
	if json.Unmarshal(req, &r) != nil {
		ix.unfollow("a BatchWriteItem it cannot read")
		return
	}
	var out struct{ UnprocessedItems map[string][]writeRequest }
	if status != http.StatusOK || json.Unmarshal(resp, &out) != nil {
		for name := range r.RequestItems {
			if _, ok := ix.tables[name]; ok {
				ix.unfollow("kumo refused a BatchWriteItem, perhaps in part", name)
			}
		}
		return
	}
	for name, reqs := range r.RequestItems {
		t, ok := ix.tables[name]
		if !ok {
			continue
		}
		skip := map[string]bool{}
		for _, u := range out.UnprocessedItems[name] {
			if e, ok := t.requestEntry(u); ok {
				skip[e.pkey] = true
			}
		}
		for _, w := range reqs {
			e, ok := t.requestEntry(w)
			if !ok {
				ix.unfollow("a BatchWriteItem request without the table's key", name)
				break
			}
			switch {
			case skip[e.pkey]:
			case w.PutRequest != nil:
				t.put(e)
			default:
				t.remove(e.pkey)
			}
		}
	}
}

// requestEntry reads a batch request's item, or its key for a delete.
func (t *table) requestEntry(w writeRequest) (*entry, bool) {
	switch {
	case w.PutRequest != nil:
		return t.newEntry(w.PutRequest.Item)
	case w.DeleteRequest != nil:
		return t.newEntry(w.DeleteRequest.Key)
	}
	return nil, false
}

// applyTransact follows a TransactWriteItems, which kumo applies whole or
// not at all.
func (ix *Index) applyTransact(req []byte, status int) {
	type one struct {
		TableName string
		Item, Key json.RawMessage
	}
	var r struct {
		TransactItems []struct{ Put, Delete, Update *one }
	}
	if json.Unmarshal(req, &r) != nil {
		ix.unfollow("a TransactWriteItems it cannot read")
		return
	}
	for _, it := range r.TransactItems {
		op, w := "Put", it.Put
		if it.Delete != nil {
			op, w = "Delete", it.Delete
		} else if it.Update != nil {
			op, w = "Update", it.Update
		}
		if w == nil {
			continue // a ConditionCheck
		}
		t, ok := ix.tables[w.TableName]
		if !ok {
			continue
		}
		if status != http.StatusOK && status/100 != 4 || status == http.StatusOK && !ix.write(t, w.TableName, op, w.Item, w.Key) {
			ix.unfollow("a TransactWriteItems it could not follow", w.TableName)
		}
	}
}

// unfollow stops following the named tables (every table when none is
// named), whose Queries kumo answers from then on, and says so once.
func (ix *Index) unfollow(reason string, names ...string) {
	if len(names) == 0 {
		for name := range ix.tables {
			names = append(names, name)
		}
	}
	for _, name := range names {
		if _, ok := ix.tables[name]; !ok {
			continue
		}
		delete(ix.tables, name)
		if ix.logf != nil {
			ix.logf("queryindex: kumo answers the Queries of table %s from now on (slower): %s\n", name, reason)
		}
	}
}
