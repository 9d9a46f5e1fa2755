package domain_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/orderflow/orderflow/domain"
)

// Every catalogued type selects only rows that exist and cover every status,
// and every table row is reachable from a catalogued type or an operator or
// the schedule.
func TestCatalogueRowsAreComplete(t *testing.T) {
	t.Parallel()
	reached := map[domain.Trigger]bool{
		domain.TriggerCleanup: true, domain.TriggerClearReview: true, domain.TriggerMarkRefunded: true,
		domain.TriggerRequestRefund: true, domain.TriggerLinkPaymentIntent: true,
	}
	seen := map[string]bool{}
	for _, et := range domain.Catalogue {
		if seen[et.Type] {
			t.Errorf("%s is declared twice", et.Type)
		}
		seen[et.Type] = true
		if et.Object == "" || et.Trigger == nil || len(et.Triggers) == 0 {
			t.Errorf("%s: incomplete entry %+v", et.Type, et)
		}
		for _, tr := range et.Triggers {
			reached[tr] = true
			row, ok := domain.Transitions[tr]
			if !ok {
				t.Errorf("%s selects %s, which has no row", et.Type, tr)
			}
			for _, st := range domain.Statuses {
				if _, ok := row[st]; !ok {
					t.Errorf("%s: row %s has no cell for %s", et.Type, tr, st)
				}
			}
		}
	}
	for _, tr := range domain.Triggers {
		if !reached[tr] {
			t.Errorf("row %s is reached by no catalogued type, operator or schedule", tr)
		}
	}
	if !slices.Equal(domain.AcceptedEventTypes(), []string{
		"payment_intent.succeeded", "payment_intent.payment_failed", "charge.refunded", "charge.refund.updated",
		"refund.updated", "refund.failed", "charge.dispute.created", "charge.dispute.closed",
	}) {
		t.Errorf("accepted types = %v, want SPEC §4's list", domain.AcceptedEventTypes())
	}
}

// manifestEntry is one line of testdata/events/versions.json: a fixture and
// the values the domain must read from it.
type manifestEntry struct {
	File            string `json:"file"`
	APIVersion      string `json:"apiVersion"`
	Type            string `json:"type"`
	ObjectID        string `json:"objectId"`
	PaymentIntentID string `json:"paymentIntentId"`
	ChargeID        string `json:"chargeId"`
	OrderID         string `json:"orderId"`
	Amount          int64  `json:"amount"`
	AmountCaptured  *int64 `json:"amountCaptured"`
	AmountRefunded  *int64 `json:"amountRefunded"`
	Refunded        *bool  `json:"refunded"`
	RefundID        string `json:"refundId"`
	RefundStatus    string `json:"refundStatus"`
	FailureReason   string `json:"failureReason"`
	DisputeID       string `json:"disputeId"`
	DisputeStatus   string `json:"disputeStatus"`
	DisputeReason   string `json:"disputeReason"`
	FailureCode     string `json:"failureCode"`
	FailureMessage  string `json:"failureMessage"`
	Livemode        bool   `json:"livemode"`
	Currency        string `json:"currency"`
}

// Every fixture of every API version (2020-08-27 to 2025-03-31.basil) parses
// and yields every field the domain reads (SPEC §3 "API versions"), and its
// type selects the row its money calls for.
func TestFixturesOfEveryAPIVersion(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "testdata", "events")
	raw, err := os.ReadFile(filepath.Join(dir, "versions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest []manifestEntry
	if err := json.Unmarshal(raw, &manifest); err != nil {
		t.Fatal(err)
	}
	versions := map[string]map[string]bool{}
	for _, m := range manifest {
		t.Run(m.File, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join(dir, m.File))
			if err != nil {
				t.Fatal(err)
			}
			ev, err := domain.ParseEvent(body)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			check := func(field string, got, want any) {
				t.Helper()
				if got != want {
					t.Errorf("%s = %v, want %v", field, got, want)
				}
			}
			check("type", ev.Type, m.Type)
			check("apiVersion", ev.APIVersion, m.APIVersion)
			check("livemode", ev.Livemode, m.Livemode)
			check("object id", ev.Object.ID, m.ObjectID)
			check("payment intent", ev.PaymentIntentID(), m.PaymentIntentID)
			check("charge", ev.ChargeID(), m.ChargeID)
			check("orderId", ev.OrderID(), m.OrderID)
			check("amount", ev.Object.Amount, m.Amount)
			check("currency", ev.Object.Currency, m.Currency)
			check("refund id", ev.RefundID(), m.RefundID)
			check("dispute id", ev.DisputeID(), m.DisputeID)
			if m.AmountCaptured != nil {
				check("amount captured", ev.AmountCaptured(), *m.AmountCaptured)
			}
			if m.AmountRefunded != nil {
				check("amount refunded", ev.Object.AmountRefunded, *m.AmountRefunded)
			}
			if m.Refunded != nil {
				check("refunded", ev.Object.Refunded, *m.Refunded)
			}
			if m.RefundStatus != "" {
				check("refund status", ev.Object.Status, m.RefundStatus)
				check("failure reason", ev.Object.FailureReason, m.FailureReason)
			}
			if m.DisputeStatus != "" {
				check("dispute status", ev.Object.Status, m.DisputeStatus)
				check("dispute reason", ev.Object.Reason, m.DisputeReason)
			}
			if m.FailureCode != "" {
				if ev.Object.LastPaymentError == nil {
					t.Fatal("no last_payment_error")
				}
				check("failure code", ev.Object.LastPaymentError.Code, m.FailureCode)
				check("failure message", ev.Object.LastPaymentError.Message, m.FailureMessage)
			}
			tr, err := domain.TriggerForEvent(ev)
			if err != nil {
				t.Fatal(err)
			}
			check("row", tr, wantTrigger(m))
		})
		if versions[m.APIVersion] == nil {
			versions[m.APIVersion] = map[string]bool{}
		}
		versions[m.APIVersion][m.Type] = true
	}
	for _, v := range []string{"2020-08-27", "2022-11-15", "2024-06-20", "2025-03-31.basil"} {
		for _, typ := range domain.AcceptedEventTypes() {
			if !versions[v][typ] {
				t.Errorf("no fixture of %s for API version %s", typ, v)
			}
		}
	}
}

// wantTrigger is the row a fixture's money calls for, from the manifest's
// numbers rather than from the code under test.
func wantTrigger(m manifestEntry) domain.Trigger {
	switch m.Type {
	case domain.EventPaymentSucceeded:
		return domain.TriggerPaymentSucceeded
	case domain.EventPaymentFailed:
		return domain.TriggerPaymentFailed
	case domain.EventChargeRefunded:
		switch {
		case *m.AmountCaptured == 0:
			return domain.TriggerAuthorizationReleased
		case *m.AmountRefunded >= *m.AmountCaptured:
			return domain.TriggerRefundFull
		}
		return domain.TriggerRefundPartial
	case domain.EventRefundFailed:
		return domain.TriggerRefundFailed
	case domain.EventChargeRefundUpdated, domain.EventRefundUpdated:
		if m.RefundStatus == "failed" {
			return domain.TriggerRefundFailed
		}
		return domain.TriggerRefundUpdated
	case domain.EventDisputeCreated:
		return domain.TriggerDisputeOpened
	case domain.EventDisputeClosed:
		switch m.DisputeStatus {
		case "won":
			return domain.TriggerDisputeWon
		case "lost":
			return domain.TriggerDisputeLost
		}
		return domain.TriggerDisputeClosed
	}
	return ""
}
