package audit

import (
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

// env turns a map into a lookup function like os.LookupEnv.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func TestConfigFromEnvDefaults(t *testing.T) {
	is := is.New(t)
	cfg, err := ConfigFromEnv(env(map[string]string{"TABLE_NAME": "rotcheck-audit"}))
	is.NoErr(err)
	is.Equal(cfg, Config{
		TableName:     "rotcheck-audit",
		MaxAgeDays:    30,
		TagKey:        "Managed",
		TagValue:      "true",
		RetentionDays: 400,
		UnusedDays:    90,
		StackName:     "rotation-audit",
	}) // optional settings take their documented defaults
}

func TestConfigFromEnvOverrides(t *testing.T) {
	is := is.New(t)
	cfg, err := ConfigFromEnv(env(map[string]string{
		"TABLE_NAME":              "t",
		"MAX_AGE_DAYS":            "90",
		"TAG_KEY":                 "Rotate",
		"TAG_VALUE":               "yes",
		"RETENTION_DAYS":          "3650",
		"UNUSED_DAYS":             "30",
		"STACK_NAME":              "prod-audit",
		"AWS_REGION":              "eu-west-1",
		"MAX_AGE_UNUSED":          "x",
		"FLEXIBLE_WINDOW_MINUTES": "15",
	}))
	is.NoErr(err)
	is.Equal(cfg, Config{TableName: "t", MaxAgeDays: 90, TagKey: "Rotate", TagValue: "yes", RetentionDays: 3650,
		UnusedDays: 30, StackName: "prod-audit", Region: "eu-west-1", FlexibleWindow: 15 * time.Minute})
}

func TestConfigFromEnvEmptyMeansDefault(t *testing.T) {
	is := is.New(t)
	// SAM and Lambda pass declared-but-empty variables as "".
	cfg, err := ConfigFromEnv(env(map[string]string{"TABLE_NAME": "t", "MAX_AGE_DAYS": "", "TAG_KEY": ""}))
	is.NoErr(err)
	is.Equal(cfg.MaxAgeDays, 30)
	is.Equal(cfg.TagKey, "Managed")
}

func TestConfigFromEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want []string // every one must appear in the error
	}{
		{"missing table", map[string]string{}, []string{"TABLE_NAME is required"}},
		{"empty table", map[string]string{"TABLE_NAME": ""}, []string{"TABLE_NAME is required"}},
		{"max age not a number", map[string]string{"TABLE_NAME": "t", "MAX_AGE_DAYS": "thirty"}, []string{`MAX_AGE_DAYS="thirty" is not a whole number`}},
		{"max age fraction", map[string]string{"TABLE_NAME": "t", "MAX_AGE_DAYS": "1.5"}, []string{`MAX_AGE_DAYS="1.5"`}},
		{"max age zero", map[string]string{"TABLE_NAME": "t", "MAX_AGE_DAYS": "0"}, []string{"MAX_AGE_DAYS=0 is out of range 1..3650"}},
		{"max age negative", map[string]string{"TABLE_NAME": "t", "MAX_AGE_DAYS": "-5"}, []string{"MAX_AGE_DAYS=-5 is out of range"}},
		{"max age too big", map[string]string{"TABLE_NAME": "t", "MAX_AGE_DAYS": "3651"}, []string{"MAX_AGE_DAYS=3651 is out of range"}},
		{"retention not a number", map[string]string{"TABLE_NAME": "t", "RETENTION_DAYS": "1y"}, []string{`RETENTION_DAYS="1y"`}},
		{"retention zero", map[string]string{"TABLE_NAME": "t", "RETENTION_DAYS": "0"}, []string{"RETENTION_DAYS=0 is out of range"}},
		{"window not a number", map[string]string{"TABLE_NAME": "t", "FLEXIBLE_WINDOW_MINUTES": "OFF"}, []string{`FLEXIBLE_WINDOW_MINUTES="OFF" is not a whole number of minutes`}},
		{"window too long", map[string]string{"TABLE_NAME": "t", "FLEXIBLE_WINDOW_MINUTES": "1441"}, []string{"FLEXIBLE_WINDOW_MINUTES=1441 is out of range 0..1440"}},
		{"all at once", map[string]string{"MAX_AGE_DAYS": "x", "RETENTION_DAYS": "99999"},
			[]string{"TABLE_NAME is required", `MAX_AGE_DAYS="x"`, "RETENTION_DAYS=99999"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			cfg, err := ConfigFromEnv(env(tt.vars))
			is.True(err != nil) // invalid configuration must be refused
			is.Equal(cfg, Config{})
			for _, want := range tt.want {
				is.True(strings.Contains(err.Error(), want)) // error names the variable and its value
			}
		})
	}
}
