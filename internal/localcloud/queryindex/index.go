// Package queryindex answers DynamoDB Queries for the embedded cloud's
// front from a mirror of the tables, partition by partition.
//
// kumo answers a Query by walking every item of the table: at 10,000
// secrets and a quarter of daily runs a Query takes 1.5 s whatever it
// returns, and a quarter of hourly runs (each reading its previous run's
// rows) slows down run after run. The front sees every DynamoDB request,
// so it keeps a copy of each table it saw created, indexed by partition
// for the table and each secondary index, and answers the Queries it
// understands from it (key conditions, projections, Limit, paging, the
// 1 MB page, Select COUNT). Everything else, and any table it did not see
// from its creation or could not follow, goes to kumo as before.
//
// The copy follows kumo exactly: a write is applied only after kumo
// accepted it, and while it is in flight the index holds its lock, so the
// copy changes in kumo's order. An UpdateItem is read back from kumo. One
// difference remains: both drop items whose TTL has passed every 30
// seconds, each on its own tick, so for up to 30 seconds a Query may
// still return an expired item that kumo's GetItem no longer does, or the
// other way round (DynamoDB itself deletes them within days).
package queryindex

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Get reads one item straight from kumo (a consistent GetItem), for the
// index to follow an UpdateItem; found is false when there is none.
type Get func(table string, key json.RawMessage) (item json.RawMessage, found bool, err error)

// Index is the mirror of the tables the front saw created.
type Index struct {
	get  Get
	now  func() time.Time
	logf func(format string, args ...any)

	mu        sync.Mutex
	tables    map[string]*table
	lastSweep time.Time
	pending   bool // a write held and not yet applied
}

// New returns an empty index that reads updated items back with get; now
// is the clock TTL expiry is judged on (kumo's is the machine's), and
// logf, if not nil, hears of each table it stops following.
func New(get Get, now func() time.Time, logf func(format string, args ...any)) *Index {
	return &Index{get: get, now: now, logf: logf, tables: map[string]*table{}}
}

// keyDef names a key's attributes: a partition key and, optionally, a sort
// key.
type keyDef struct{ pk, sk string }

// indexDef is a secondary index: its key and what it projects.
type indexDef struct {
	keyDef
	projection string          // ALL, KEYS_ONLY or INCLUDE
	include    map[string]bool // INCLUDE's attributes
	local      bool            // a local index, which fetches what it does not project
}

// table is one mirrored table: its items by primary key, and each index's
// partitions ("" is the table itself).
type table struct {
	key     keyDef
	indexes map[string]indexDef
	ttl     string
	attrs   []string // every key attribute of the table and its indexes, and the TTL's
	items   map[string]*entry
	parts   map[string]map[string]*partition
}

// entry is one item: its DynamoDB JSON and the values of the attributes
// that key the table or one of its indexes (in the order of table.attrs).
type entry struct {
	raw  json.RawMessage
	size int // its size as DynamoDB counts it, for the 1 MB page
	keys []keyVal
	pkey string // its primary key, encoded
}

// val is an entry's value of a key attribute; absent when the item has
// none, or the name keys nothing.
func (t *table) val(e *entry, name string) keyVal {
	if name == "" {
		return keyVal{}
	}
	for i, a := range t.attrs {
		if a == name {
			return e.keys[i]
		}
	}
	return keyVal{}
}

// partition is the items of one partition key value in one index, sorted
// on demand.
type partition struct {
	members map[*entry]struct{}
	sorted  []*entry // nil when members changed since the last sort
}

// createTable starts following a new table.
func (ix *Index) createTable(name string, key keyDef, indexes map[string]indexDef) {
	t := &table{key: key, indexes: indexes, items: map[string]*entry{}, parts: map[string]map[string]*partition{"": {}}}
	t.keepAttrs(key.pk, key.sk)
	for n, d := range indexes {
		t.parts[n] = map[string]*partition{}
		t.keepAttrs(d.pk, d.sk)
	}
	ix.tables[name] = t
}

// keepAttrs adds attributes to those every entry keeps.
func (t *table) keepAttrs(names ...string) {
	for _, n := range names {
		if n != "" && !slices.Contains(t.attrs, n) {
			t.attrs = append(t.attrs, n)
		}
	}
}

// keyDefOf is an index's key ("" is the table's).
func (t *table) keyDefOf(index string) keyDef {
	if index == "" {
		return t.key
	}
	return t.indexes[index].keyDef
}

// newEntry reads an item, keeping the values of its key attributes; ok is
// false when it lacks a table key.
func (t *table) newEntry(raw json.RawMessage) (*entry, bool) {
	var attrs map[string]json.RawMessage
	if json.Unmarshal(raw, &attrs) != nil {
		return nil, false
	}
	e := &entry{raw: raw, keys: make([]keyVal, len(t.attrs)), size: itemSize(attrs)}
	for i, name := range t.attrs {
		a, ok := attrs[name]
		switch {
		case !ok:
		case name == t.ttl:
			e.keys[i] = ttlVal(a)
		default:
			e.keys[i], _ = parseKeyVal(a)
		}
	}
	pk, sk := t.val(e, t.key.pk), t.val(e, t.key.sk)
	if !pk.present() || t.key.sk != "" && !sk.present() {
		return nil, false
	}
	e.pkey = primaryKey(pk, sk)
	return e, true
}

// ttlVal keeps a TTL attribute that is a number (kumo ignores any other).
func ttlVal(raw json.RawMessage) keyVal {
	var av struct{ N *string }
	if json.Unmarshal(raw, &av) != nil || av.N == nil {
		return keyVal{}
	}
	return keyVal{'N', *av.N}
}

// put stores an item in place of the one with its key.
func (t *table) put(e *entry) {
	t.remove(e.pkey)
	t.items[e.pkey] = e
	t.eachPartition(e, func(p *partition) { p.members[e] = struct{}{}; p.sorted = nil }, true)
}

// remove deletes the item with a primary key, if there is one.
func (t *table) remove(pkey string) {
	old, ok := t.items[pkey]
	if !ok {
		return
	}
	delete(t.items, pkey)
	t.eachPartition(old, func(p *partition) { delete(p.members, old); p.sorted = nil }, false)
}

// eachPartition calls f with every partition an item belongs to: the
// table's, and each index's whose keys it has (a sparse index holds only
// the items that carry its keys). create makes missing partitions.
func (t *table) eachPartition(e *entry, f func(*partition), create bool) {
	for index, parts := range t.parts {
		d := t.keyDefOf(index)
		pk, sk := t.val(e, d.pk), t.val(e, d.sk)
		if !pk.present() || d.sk != "" && !sk.present() {
			continue
		}
		p, ok := parts[pk.encode()]
		if !ok {
			if !create {
				continue
			}
			p = &partition{members: map[*entry]struct{}{}}
			parts[pk.encode()] = p
		}
		f(p)
		if len(p.members) == 0 {
			delete(parts, pk.encode())
		}
	}
}

// order returns a partition's items sorted on the index's sort key, ties
// (possible in a secondary index) broken on the table's key so that pages
// never skip or repeat an item.
func (t *table) order(p *partition, d keyDef) []*entry {
	if p.sorted != nil {
		return p.sorted
	}
	s := make([]*entry, 0, len(p.members))
	for e := range p.members {
		s = append(s, e)
	}
	slices.SortFunc(s, func(a, b *entry) int { return t.cmpEntries(a, b, d) })
	p.sorted = s
	return s
}

// cmpEntries orders two items of one partition of an index.
func (t *table) cmpEntries(a, b *entry, d keyDef) int {
	return cmp.Or(
		cmpKey(t.val(a, d.sk), t.val(b, d.sk)),
		cmpKey(t.val(a, t.key.pk), t.val(b, t.key.pk)),
		cmpKey(t.val(a, t.key.sk), t.val(b, t.key.sk)),
	)
}

func cmpKey(a, b keyVal) int {
	if !a.present() || !b.present() {
		return 0
	}
	return compare(a, b)
}

// sweep deletes the items whose TTL has passed, as kumo does every 30
// seconds (a number attribute, in Unix seconds, at or before now).
func (ix *Index) sweep() {
	now := ix.now()
	if now.Sub(ix.lastSweep) < 30*time.Second {
		return
	}
	ix.lastSweep = now
	for _, t := range ix.tables {
		if t.ttl == "" {
			continue
		}
		for pkey, e := range t.items {
			if expired(t.val(e, t.ttl), now) {
				t.remove(pkey)
			}
		}
	}
}

// expired is kumo's TTL rule: a whole number of Unix seconds at or
// before now.
func expired(v keyVal, now time.Time) bool {
	if !v.present() {
		return false
	}
	at, err := strconv.ParseInt(v.s, 10, 64)
	return err == nil && at <= now.Unix()
}

// KumoGet is a Get that asks kumo at its URL.
func KumoGet(client *http.Client, url string) Get {
	return func(table string, key json.RawMessage) (json.RawMessage, bool, error) {
		body, err := json.Marshal(map[string]any{"TableName": table, "Key": key, "ConsistentRead": true})
		if err != nil {
			return nil, false, err
		}
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, false, err
		}
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		resp, err := client.Do(req)
		if err != nil {
			return nil, false, err
		}
		defer resp.Body.Close()
		var out struct{ Item json.RawMessage }
		if resp.StatusCode != http.StatusOK {
			return nil, false, fmt.Errorf("GetItem: kumo answered %s", resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return nil, false, err
		}
		return out.Item, len(out.Item) > 0 && string(out.Item) != "null", nil
	}
}
