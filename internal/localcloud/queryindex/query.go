package queryindex

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// pageBytes is DynamoDB's page: a Query stops once it has read 1 MB of
// items, counted as DynamoDB counts an item's size (see itemSize).
const pageBytes = 1 << 20

// queryRequest is the part of a Query the index reads.
type queryRequest struct {
	TableName                 string
	IndexName                 string
	KeyConditionExpression    string
	ExpressionAttributeNames  map[string]string
	ExpressionAttributeValues map[string]json.RawMessage
	ProjectionExpression      string
	Select                    string
	Limit                     int
	ExclusiveStartKey         map[string]json.RawMessage
	ScanIndexForward          *bool
	ConsistentRead            bool

	// What the index leaves to kumo.
	FilterExpression                                     string
	KeyConditions, QueryFilter, AttributesToGet, Unknown json.RawMessage
	ConditionalOperator                                  string
}

// Query answers a DynamoDB Query from the copy, as DynamoDB's JSON, or
// says false when kumo must answer it: a table the index does not follow,
// a filter, a nested projection, or anything it does not parse (kumo then
// gives the error, if there is one).
func (ix *Index) Query(body []byte) ([]byte, bool) {
	var q queryRequest
	if json.Unmarshal(body, &q) != nil || q.FilterExpression != "" || q.KeyConditions != nil ||
		q.QueryFilter != nil || q.AttributesToGet != nil || q.ConditionalOperator != "" || q.Limit < 0 {
		return nil, false
	}
	project, ok := projection(q.ProjectionExpression, q.ExpressionAttributeNames)
	if !ok {
		return nil, false
	}
	switch q.Select {
	case "", "ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "COUNT", "SPECIFIC_ATTRIBUTES":
	default:
		return nil, false
	}
	cond, err := parseKeyCond(q.KeyConditionExpression, q.ExpressionAttributeNames, q.ExpressionAttributeValues)
	if err != nil {
		return nil, false
	}

	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.sweep()
	t, ok := ix.tables[q.TableName]
	if !ok {
		return nil, false
	}
	d := t.key
	var def indexDef
	if q.IndexName != "" {
		// A local index that projects less fetches the rest from the
		// table on DynamoDB; kumo answers those.
		if def, ok = t.indexes[q.IndexName]; !ok || q.ConsistentRead || def.local && def.projection != "ALL" {
			return nil, false
		}
		d = def.keyDef
	}
	pkTerm, skTerm, ok := split(cond, d)
	if !ok {
		return nil, false
	}
	forward := q.ScanIndexForward == nil || *q.ScanIndexForward
	var items []*entry
	if p, found := t.parts[q.IndexName][pkTerm.a.encode()]; found {
		items = t.order(p, d)
	}
	start, ok := t.startAfter(items, q.ExclusiveStartKey, d, forward)
	if !ok {
		return nil, false
	}

	var out bytes.Buffer
	out.WriteString(`{"Items":[`)
	count, scanned, size := 0, 0, 0
	var last *entry
	more := false
	for i := start; 0 <= i && i < len(items); i = step(i, forward) {
		e := items[i]
		if skTerm != nil && !skTerm.match(t.val(e, d.sk)) {
			if last != nil {
				break // past the range: sort key matches are contiguous
			}
			continue
		}
		if q.Limit > 0 && scanned == q.Limit || size >= pageBytes {
			more = true
			break
		}
		scanned++
		size += e.size
		last = e
		if q.Select == "COUNT" {
			count++
			continue
		}
		if count > 0 {
			out.WriteByte(',')
		}
		count++
		if err := t.write(&out, e, q.IndexName, def, project); err != nil {
			return nil, false
		}
	}
	out.WriteString(`],"Count":` + strconv.Itoa(count) + `,"ScannedCount":` + strconv.Itoa(scanned))
	if more && last != nil {
		out.WriteString(`,"LastEvaluatedKey":`)
		out.Write(t.lastKey(last, d))
	}
	out.WriteByte('}')
	if q.Select == "COUNT" {
		return bytes.Replace(out.Bytes(), []byte(`"Items":[],`), nil, 1), true
	}
	return out.Bytes(), true
}

func step(i int, forward bool) int {
	if forward {
		return i + 1
	}
	return i - 1
}

// split finds the partition key's equality and the sort key's term, if
// any, in a key condition on an index's key.
func split(c keyCond, d keyDef) (pk term, sk *term, ok bool) {
	found := false
	for i := range c.terms {
		t := c.terms[i]
		switch {
		case t.name == d.pk && t.op == "=" && !found:
			pk, found = t, true
		case t.name == d.sk && d.sk != "" && sk == nil:
			sk = &c.terms[i]
		default:
			return term{}, nil, false
		}
	}
	return pk, sk, found
}

// startAfter is where a page starts: the first item, or the one after
// ExclusiveStartKey in the Query's direction. As on DynamoDB the key's own
// values place it, so an item changed or deleted since the last page
// moves nothing; a key without the index's sort key (kumo's pages carry
// only the table's key) is placed by the item it names, as it is now.
func (t *table) startAfter(items []*entry, start map[string]json.RawMessage, d keyDef, forward bool) (int, bool) {
	if start == nil {
		if forward {
			return 0, true
		}
		return len(items) - 1, true
	}
	raw, err := json.Marshal(start)
	if err != nil {
		return 0, false
	}
	probe, ok := t.newEntry(raw)
	if !ok {
		return 0, false
	}
	if d.sk != "" && !t.val(probe, d.sk).present() {
		e, found := t.items[probe.pkey]
		if !found {
			return 0, false
		}
		probe = e
	}
	// The first item after the probe, going forward.
	i := 0
	for lo, hi := 0, len(items); lo < hi; {
		mid := (lo + hi) / 2
		if t.cmpEntries(items[mid], probe, d) <= 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
		i = lo
	}
	if forward {
		return i, true
	}
	// Going backward, the last item before the probe.
	for i > 0 && t.cmpEntries(items[i-1], probe, d) >= 0 {
		i--
	}
	return i - 1, true
}

// lastKey is LastEvaluatedKey: the table's key and the index's, as
// DynamoDB returns it for an index.
func (t *table) lastKey(e *entry, d keyDef) []byte {
	key := map[string]json.RawMessage{}
	for _, n := range []string{t.key.pk, t.key.sk, d.pk, d.sk} {
		if v := t.val(e, n); v.present() {
			key[n] = v.wire()
		}
	}
	b, _ := json.Marshal(key)
	return b
}

// projection reads a ProjectionExpression's top-level attribute names;
// ok is false for a document path (a.b, a[0]) the index leaves to kumo.
func projection(expr string, names map[string]string) (map[string]bool, bool) {
	if strings.TrimSpace(expr) == "" {
		return nil, true
	}
	out := map[string]bool{}
	for _, p := range strings.Split(expr, ",") {
		p = strings.TrimSpace(p)
		if p == "" || strings.ContainsAny(p, ".[] ") {
			return nil, false
		}
		if strings.HasPrefix(p, "#") {
			n, ok := names[p]
			if !ok {
				return nil, false
			}
			p = n
		}
		out[p] = true
	}
	return out, true
}

// write appends an item as the Query returns it: what the index projects
// (its keys and the table's for KEYS_ONLY and INCLUDE), then only the
// attributes the ProjectionExpression names.
func (t *table) write(out *bytes.Buffer, e *entry, index string, def indexDef, project map[string]bool) error {
	keep := func(name string) bool { return project == nil || project[name] }
	if index != "" && def.projection != "ALL" {
		keys := map[string]bool{t.key.pk: true, t.key.sk: true, def.pk: true, def.sk: true}
		keep = func(name string) bool {
			return (keys[name] || def.projection == "INCLUDE" && def.include[name]) && (project == nil || project[name])
		}
	} else if project == nil {
		out.Write(e.raw)
		return nil
	}
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(e.raw, &attrs); err != nil {
		return err
	}
	for name := range attrs {
		if !keep(name) {
			delete(attrs, name)
		}
	}
	b, err := json.Marshal(attrs)
	if err != nil {
		return err
	}
	out.Write(b)
	return nil
}
