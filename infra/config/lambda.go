package config

import "strings"

// LoadLambda is Load for the Lambda functions: ORDERFLOW_BACKEND defaults to
// "aws" instead of "sqlite", because a function has no persistent disk for the
// SQLite file and every container would otherwise start on an empty database
// of its own. An explicit ORDERFLOW_BACKEND still wins, so the handlers can be
// exercised in tests on SQLite.
func LoadLambda(getenv func(string) string) (Config, error) {
	return Load(func(name string) string {
		v := getenv(name)
		if name == "ORDERFLOW_BACKEND" && strings.TrimSpace(v) == "" {
			return BackendAWS
		}
		return v
	})
}
