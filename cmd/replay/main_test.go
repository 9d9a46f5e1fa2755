package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/emulator"
	"github.com/orderflow/orderflow/infra/lambdaenv/lambdaenvtest"
)

func TestMain(m *testing.M) { lambdaenvtest.Main(m, main) }

// fixture reads a Stripe event fixture with its ids made unique to tag.
func fixture(t *testing.T, file, tag string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(emulator.RepoRoot(t), "testdata", "events", file))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return []byte(strings.NewReplacer(
		"evt_fixture", "evt_"+tag, "ord_fixture", "ord_"+tag, "pi_fixture", "pi_"+tag, "ch_fixture", "ch_"+tag,
	).Replace(string(raw)))
}

// deadLetter puts a Stripe event on the DLQ as the worker does, with extra
// attributes on top of the ingress's.
func deadLetter(t *testing.T, ctx context.Context, dlq domain.Queue, body []byte, extra map[string]string) domain.OutgoingMessage {
	t.Helper()
	ev, err := domain.ParseEvent(body)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	attrs := map[string]string{domain.AttrEventType: ev.Type, domain.AttrEventID: ev.ID, domain.AttrSource: domain.SourceWebhook}
	for k, v := range extra {
		attrs[k] = v
	}
	m := domain.OutgoingMessage{Body: body, GroupID: ev.GroupID(), DedupID: ev.ID, Attributes: attrs}
	if _, err := dlq.Send(ctx, m); err != nil {
		t.Fatalf("send to dlq: %v", err)
	}
	return m
}

// env is a function's environment for one backend.
type env map[string]string

func TestReplayFunction(t *testing.T) {
	for _, b := range emulator.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang guard only
			defer cancel()
			e := env(b.Env(t))
			fn := lambdaenvtest.Handler(ctx, t, newHandler, e)
			be := emulator.OpenBackend(ctx, t, e)
			lastError := map[string]string{domain.AttrLastError: "order not found"}
			succeeded := deadLetter(t, ctx, be.DLQ, fixture(t, "payment_intent.succeeded.json", "r1"), lastError)
			deadLetter(t, ctx, be.DLQ, fixture(t, "charge.refunded.json", "r2"), map[string]string{domain.AttrReplayCount: "3"})
			failed := deadLetter(t, ctx, be.DLQ, fixture(t, "payment_intent.payment_failed.json", "r3"), lastError)

			// In order: each run sees what the earlier ones left.
			steps := []struct {
				name    string
				payload string
				want    string
				wantErr string
			}{
				{"dry run", `{"dryRun": true}`, `{"moved":2,"parked":1,"remaining":3}`, ""},
				{"one type", `{"limit": 5, "type": "payment_intent.succeeded", "dryRun": false}`, `{"moved":1,"parked":0,"remaining":2}`, ""},
				{"mistyped field", `{"dry_run": true}`, "", "dry_run"},
				{"negative limit", `{"limit": -1}`, "", "limit -1"},
				{"empty payload moves the rest", "", `{"moved":1,"parked":1,"remaining":1}`, ""},
			}
			for _, s := range steps {
				out, err := fn.Invoke(ctx, []byte(s.payload))
				switch {
				case s.wantErr != "":
					if err == nil || !strings.Contains(err.Error(), s.wantErr) {
						t.Errorf("%s: error = %v, want one mentioning %q", s.name, err, s.wantErr)
					}
				case err != nil:
					t.Errorf("%s: invoke: %v", s.name, err)
				case strings.TrimSpace(string(out)) != s.want:
					t.Errorf("%s: answered %s, want %s", s.name, out, s.want)
				}
			}

			// The two moved messages are back on the events queue, in their
			// groups, under replay dedup ids.
			got := map[string]domain.Message{}
			for range 5 {
				msgs, err := be.Events.Receive(ctx, 10, time.Second)
				if err != nil {
					t.Fatalf("receive events: %v", err)
				}
				for _, m := range msgs {
					got[m.GroupID] = m
				}
				if len(msgs) == 0 {
					break
				}
			}
			if len(got) != 2 {
				t.Fatalf("events queue holds %d messages, want 2", len(got))
			}
			for _, want := range []domain.OutgoingMessage{succeeded, failed} {
				m, ok := got[want.GroupID]
				if !ok {
					t.Errorf("group %s: nothing on the events queue", want.GroupID)
					continue
				}
				if string(m.Body) != string(want.Body) || m.DedupID != want.DedupID+"#replay-1" ||
					m.Attributes[domain.AttrReplayCount] != "1" || m.Attributes[domain.AttrSource] != domain.SourceReplay ||
					m.Attributes[domain.AttrEventType] != want.Attributes[domain.AttrEventType] || m.Attributes[domain.AttrLastError] != "" {
					t.Errorf("group %s: replayed as dedup %s attrs %v (body equal: %v)", want.GroupID, m.DedupID, m.Attributes, string(m.Body) == string(want.Body))
				}
			}
		})
	}
}

func TestReplayConfigurationErrors(t *testing.T) {
	t.Parallel()
	lambdaenvtest.RefusesBadConfig(t, newHandler, []lambdaenvtest.BadConfig{
		{Name: "nothing set defaults to aws", Env: env{}, Want: []string{"EVENTS_QUEUE_URL", "DLQ_URL"}},
		{Name: "bad values", Env: env{"ORDERFLOW_BACKEND": "sqlite", "MAX_REPLAYS": "-1", "LOG_LEVEL": "loud"}, Want: []string{"MAX_REPLAYS", "LOG_LEVEL"}},
	})
}

func TestBadConfigurationFailsInitWithOneLine(t *testing.T) {
	t.Parallel()
	lambdaenvtest.InitFails(t, []string{"MAX_REPLAYS=many"}, "MAX_REPLAYS")
}
