package localcloud

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// scheduleDates keeps each schedule's CreationDate and LastModificationDate
// on cloud time. kumo stamps them with the machine's clock, which the cloud
// clock may be months away from, and a reader takes the control's start
// from the creation date.
type scheduleDates struct {
	mu    sync.Mutex
	dates map[string]scheduleStamp // by group and name
}

type scheduleStamp struct{ created, modified time.Time }

func dateKey(group, name string) string {
	if group == "" {
		group = "default"
	}
	return group + "/" + name
}

// changed records a create (POST) or an update (PUT) at now, and forgets
// a deleted schedule.
func (d *scheduleDates) changed(method, group, name string, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dates == nil {
		d.dates = map[string]scheduleStamp{}
	}
	key := dateKey(group, name)
	switch method {
	case http.MethodPost:
		d.dates[key] = scheduleStamp{created: now, modified: now}
	case http.MethodPut:
		if s, ok := d.dates[key]; ok {
			s.modified = now
			d.dates[key] = s
		}
	case http.MethodDelete:
		delete(d.dates, key)
	}
}

// rewrite puts the cloud-time dates into a GetSchedule answer; a schedule
// this front did not see created keeps kumo's.
func (d *scheduleDates) rewrite(r *http.Request, name string, body []byte) []byte {
	d.mu.Lock()
	s, ok := d.dates[dateKey(r.URL.Query().Get("groupName"), name)]
	d.mu.Unlock()
	if !ok {
		return body
	}
	var out map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&out) != nil {
		return body
	}
	out["CreationDate"] = epoch(s.created)
	out["LastModificationDate"] = epoch(s.modified)
	b, err := json.Marshal(out)
	if err != nil {
		return body
	}
	return b
}

// epoch is a time as the JSON protocols send it: seconds since 1970.
func epoch(t time.Time) json.Number {
	return json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64))
}

// schedulePathName is the schedule a /schedules/{name} path names.
func schedulePathName(p string) (string, bool) {
	m := schedulePath.FindStringSubmatch(p)
	if m == nil {
		return "", false
	}
	name, err := url.PathUnescape(m[1])
	return name, err == nil
}
