package queryindex

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode"
)

// keyCond is a parsed KeyConditionExpression: the partition key's value
// and, when the Query has one, a condition on the sort key.
type keyCond struct {
	terms []term
}

// term is one comparison of a key attribute: op is one of = < <= > >=,
// BETWEEN (a and b) or begins_with.
type term struct {
	name string
	op   string
	a, b keyVal
}

var errUnsupported = errors.New("not a key condition the index answers")

// parseKeyCond parses the key conditions DynamoDB accepts: a partition
// key equality, optionally AND one sort key condition (=, <, <=, >, >=,
// BETWEEN ... AND ..., begins_with), with any parentheses, names given
// directly or as #placeholders and values as :placeholders. Anything else
// is errUnsupported, and kumo answers it instead.
func parseKeyCond(expr string, names map[string]string, values map[string]json.RawMessage) (keyCond, error) {
	toks, err := tokenize(expr)
	if err != nil {
		return keyCond{}, err
	}
	p := parser{toks: toks, names: names, values: values}
	var c keyCond
	for {
		t, err := p.term()
		if err != nil {
			return keyCond{}, err
		}
		c.terms = append(c.terms, t)
		if p.done() {
			break
		}
		if !p.keyword("AND") || len(c.terms) == 2 {
			return keyCond{}, errUnsupported
		}
	}
	return c, nil
}

// tokenize splits an expression into names, placeholders, operators,
// commas and keywords, dropping the parentheses that only group (those
// that follow begins_with stay).
func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == ',' || c == '=':
			toks = append(toks, string(c))
			i++
		case c == '<' || c == '>':
			if i+1 < len(s) && (s[i+1] == '=' || s[i+1] == '>') {
				toks = append(toks, s[i:i+2])
				i += 2
				continue
			}
			toks = append(toks, string(c))
			i++
		case c == '#' || c == ':' || c == '_' || unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)):
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] == '-' || s[j] == '.' || unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j]))) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			return nil, errUnsupported
		}
	}
	// Keep begins_with's own parentheses; drop the grouping ones.
	var out []string
	depth, call := 0, -1
	for i, t := range toks {
		switch t {
		case "(":
			if i > 0 && strings.EqualFold(toks[i-1], "begins_with") {
				call = depth
				out = append(out, t)
			}
			depth++
		case ")":
			depth--
			if depth == call {
				call = -1
				out = append(out, t)
			}
		default:
			out = append(out, t)
		}
	}
	if depth != 0 {
		return nil, errUnsupported
	}
	return out, nil
}

type parser struct {
	toks   []string
	names  map[string]string
	values map[string]json.RawMessage
}

func (p *parser) done() bool { return len(p.toks) == 0 }

func (p *parser) next() string {
	if len(p.toks) == 0 {
		return ""
	}
	t := p.toks[0]
	p.toks = p.toks[1:]
	return t
}

func (p *parser) keyword(k string) bool {
	if len(p.toks) > 0 && strings.EqualFold(p.toks[0], k) {
		p.toks = p.toks[1:]
		return true
	}
	return false
}

func (p *parser) expect(t string) bool { return p.next() == t }

// term is name op value, name BETWEEN value AND value, or
// begins_with(name, value).
func (p *parser) term() (term, error) {
	if p.keyword("begins_with") {
		if !p.expect("(") {
			return term{}, errUnsupported
		}
		name, err := p.name()
		if err != nil || !p.expect(",") {
			return term{}, errUnsupported
		}
		v, err := p.value()
		if err != nil || !p.expect(")") {
			return term{}, errUnsupported
		}
		return term{name: name, op: "begins_with", a: v}, nil
	}
	name, err := p.name()
	if err != nil {
		return term{}, err
	}
	if p.keyword("BETWEEN") {
		a, err := p.value()
		if err != nil || !p.keyword("AND") {
			return term{}, errUnsupported
		}
		b, err := p.value()
		if err != nil {
			return term{}, err
		}
		return term{name: name, op: "BETWEEN", a: a, b: b}, nil
	}
	op := p.next()
	switch op {
	case "=", "<", "<=", ">", ">=":
	default:
		return term{}, errUnsupported
	}
	v, err := p.value()
	if err != nil {
		return term{}, err
	}
	return term{name: name, op: op, a: v}, nil
}

// name is an attribute name, given as a #placeholder or plainly.
func (p *parser) name() (string, error) {
	t := p.next()
	switch {
	case strings.HasPrefix(t, "#"):
		n, ok := p.names[t]
		if !ok {
			return "", errUnsupported
		}
		return n, nil
	case t == "" || strings.HasPrefix(t, ":") || strings.ContainsAny(t, ".()=<>,") || strings.EqualFold(t, "AND"):
		return "", errUnsupported
	}
	return t, nil
}

// value is a :placeholder's key value.
func (p *parser) value() (keyVal, error) {
	raw, ok := p.values[p.next()]
	if !ok {
		return keyVal{}, errUnsupported
	}
	v, ok := parseKeyVal(raw)
	if !ok {
		return keyVal{}, errUnsupported
	}
	return v, nil
}

// match reports whether a sort key value meets the term.
func (t term) match(v keyVal) bool {
	if v.typ != t.a.typ {
		return false
	}
	switch t.op {
	case "=":
		return compare(v, t.a) == 0
	case "<":
		return compare(v, t.a) < 0
	case "<=":
		return compare(v, t.a) <= 0
	case ">":
		return compare(v, t.a) > 0
	case ">=":
		return compare(v, t.a) >= 0
	case "BETWEEN":
		return compare(v, t.a) >= 0 && compare(v, t.b) <= 0
	case "begins_with":
		return hasPrefix(v, t.a)
	}
	return false
}
