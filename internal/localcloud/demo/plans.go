package demo

// plan is what happens to one demo secret, day by day.
type plan struct {
	name    string
	managed bool
	// every rotates the secret every so many days (0: never), from the
	// day offset; rules also turns on automatic rotation with that interval.
	every, offset int
	rules         bool
	// stopDay is when its rotation starts failing (0: never).
	stopDay int
	// readEvery reads its value every so many days (0: never read).
	readEvery int
	// tagDay edits a tag on that day; deleteDay deletes it.
	tagDay, deleteDay int
	owner             string // a service that owns it, such as rds
}

// plans is a realistic population: 40 secrets of five services, most
// rotated every 20 days, some never, one rotated too rarely, one whose
// rotation starts failing, one edited by hand, one deleted mid-quarter, one
// owned by RDS, one not managed.
func plans() []plan {
	var plans []plan
	for i, svc := range []string{"payments", "orders", "search", "auth", "billing"} {
		plans = append(plans,
			plan{name: svc + "-db-password", managed: true, every: 20, offset: 3 * i, rules: true, readEvery: 1},
			plan{name: svc + "-api-key", managed: true, every: 20, offset: 3*i + 7, rules: true, readEvery: 7},
			plan{name: svc + "-signing-key", managed: true, every: 20, offset: 3*i + 11},
			plan{name: svc + "-webhook-token", managed: true, every: 45, offset: 5 * i, readEvery: 3},
			plan{name: svc + "-partner-token", managed: true, readEvery: 30},
			plan{name: svc + "-ci-token", managed: true, every: 20, offset: 2 * i, readEvery: 2},
			plan{name: svc + "-legacy-password", managed: true},
		)
	}
	return append(plans,
		plan{name: "orders-queue-credentials", managed: true, every: 7, offset: 1, rules: true, stopDay: 30, readEvery: 1},
		plan{name: "payments-hsm-pin", managed: true, tagDay: 40, readEvery: 14},
		plan{name: "search-old-index-key", managed: true, deleteDay: 45},
		plan{name: "reports-cluster-master", managed: true, owner: "rds", every: 7, offset: 2, rules: true, readEvery: 1},
		plan{name: "sandbox-experiment", managed: false},
	)
}

// step is what a plan does on one day, in this order: delete the secret
// (and nothing else), edit a tag, rotate, read the value.
type step struct {
	delete, tag, rotate, read bool
}

// on is what the plan does on a day, counted from the quarter's first
// (negative before it).
func (p plan) on(day int) step {
	switch {
	case p.deleteDay != 0 && day > p.deleteDay:
		return step{} // gone
	case p.deleteDay != 0 && day == p.deleteDay:
		return step{delete: true}
	}
	return step{
		tag:    p.tagDay != 0 && day == p.tagDay,
		rotate: p.every > 0 && (day-p.offset)%p.every == 0 && (p.stopDay == 0 || day < p.stopDay),
		read:   p.readEvery > 0 && day%p.readEvery == 0,
	}
}

// service is the service a demo secret belongs to: its name's first word.
func service(name string) string {
	for i, r := range name {
		if r == '-' || r == '!' {
			return name[:i]
		}
	}
	return name
}
