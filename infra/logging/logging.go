// Package logging builds the zap logger every orderflow process uses: JSON by
// default (CloudWatch Logs parses it), a console encoder for people at a
// terminal.
package logging

import (
	"fmt"
	"io"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Field names shared by every log line about a queue message (SPEC §11).
const (
	FieldEventID      = "eventId"
	FieldEventType    = "eventType"
	FieldOrderID      = "orderId"
	FieldGroup        = "group"
	FieldReceiveCount = "receiveCount"
)

// New returns a logger writing to w at level ("debug", "info", "warn",
// "error") in format ("json" or "console").
func New(w io.Writer, level, format string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	cfg := zap.NewProductionEncoderConfig()
	cfg.TimeKey = "time"
	cfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch format {
	case "", "json":
		enc = zapcore.NewJSONEncoder(cfg)
	case "console":
		cfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(cfg)
	default:
		return nil, fmt.Errorf("log format %q: want json or console", format)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), lvl)), nil
}
