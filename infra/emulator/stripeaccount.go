package emulator

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// StripeAccountServer is a stand-in for the parts of a Stripe account that
// stripe-mock cannot answer with real business rules: refunds of known
// payments (idempotency keys honoured, a second full refund refused with
// charge_already_refunded), the webhook endpoints list and the balance that
// proves a key works.
type StripeAccountServer struct {
	// URL is the base URL to use as STRIPE_API_BASE.
	URL string

	mu        sync.Mutex
	key       string
	payments  map[string]stripePayment
	refunds   []StripeRefund
	byKey     map[string]idempotent
	endpoints []StripeWebhookEndpoint
	requests  []StripeRequest
}

type stripePayment struct {
	charge   string
	amount   int64
	currency string
}

type idempotent struct {
	form   url.Values
	refund int // index into refunds
}

// StripeRefund is a refund the stand-in created.
type StripeRefund struct {
	ID              string            `json:"id"`
	PaymentIntentID string            `json:"payment_intent"`
	ChargeID        string            `json:"charge"`
	Amount          int64             `json:"amount"`
	Currency        string            `json:"currency"`
	Reason          string            `json:"reason,omitempty"`
	Status          string            `json:"status"`
	Metadata        map[string]string `json:"metadata"`
	IdempotencyKey  string            `json:"-"`
}

// StripeWebhookEndpoint is one registered webhook endpoint.
type StripeWebhookEndpoint struct {
	ID            string
	URL           string
	Status        string // enabled or disabled; "" means enabled
	EnabledEvents []string
}

// StripeRequest is one request the stand-in served.
type StripeRequest struct {
	Method, Path   string
	IdempotencyKey string
	Form           url.Values
}

// StripeAccount starts the stand-in on 127.0.0.1, closed through t.Cleanup.
// It answers 401 without a Bearer sk_/rk_ key (or, after SetKey, without
// that key), and serves POST /v1/refunds, GET /v1/webhook_endpoints and GET
// /v1/balance.
func StripeAccount(t testing.TB) *StripeAccountServer {
	t.Helper()
	s := &StripeAccountServer{payments: map[string]stripePayment{}, byKey: map[string]idempotent{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("StripeAccount: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/refunds", s.createRefund)
	mux.HandleFunc("GET /v1/webhook_endpoints", s.listEndpoints)
	mux.HandleFunc("GET /v1/balance", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"object": "balance", "livemode": false,
			"available": []any{map[string]any{"amount": 0, "currency": "usd"}},
			"pending":   []any{map[string]any{"amount": 0, "currency": "usd"}}})
	})
	srv := &http.Server{Handler: s.auth(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.URL = "http://" + l.Addr().String()
	return s
}

// SetKey makes key the only secret key the stand-in accepts.
func (s *StripeAccountServer) SetKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key = key
}

// AddPayment records a succeeded payment intent with its charge, which can
// then be refunded once in full.
func (s *StripeAccountServer) AddPayment(paymentIntentID, chargeID string, amount int64, currency string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.payments[paymentIntentID] = stripePayment{charge: chargeID, amount: amount, currency: currency}
}

// SetWebhookEndpoints replaces the registered webhook endpoints.
func (s *StripeAccountServer) SetWebhookEndpoints(eps ...StripeWebhookEndpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endpoints = append([]StripeWebhookEndpoint(nil), eps...)
}

// FailRefund marks a refund failed, as Stripe does before sending
// refund.failed: the payment can then be refunded again.
func (s *StripeAccountServer) FailRefund(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.refunds {
		if s.refunds[i].ID == id {
			s.refunds[i].Status = "failed"
		}
	}
}

// Refunds returns the refunds created so far, oldest first.
func (s *StripeAccountServer) Refunds() []StripeRefund {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.refunds)
}

// Requests returns every request served, oldest first.
func (s *StripeAccountServer) Requests() []StripeRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *StripeAccountServer) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		s.mu.Lock()
		s.requests = append(s.requests, StripeRequest{Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key"), Form: r.PostForm})
		want := s.key
		s.mu.Unlock()
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !(strings.HasPrefix(key, "sk_") || strings.HasPrefix(key, "rk_")) || (want != "" && key != want) {
			stripeError(w, http.StatusUnauthorized, "", "Invalid API Key provided: "+maskKey(key))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// maskKey quotes a key as Stripe does, so tests prove it is redacted.
func maskKey(key string) string {
	if len(key) <= 8 {
		return "****"
	}
	return key[:8] + "****" + key[len(key)-4:]
}

func (s *StripeAccountServer) createRefund(w http.ResponseWriter, r *http.Request) {
	form := r.PostForm
	key := r.Header.Get("Idempotency-Key")
	s.mu.Lock()
	defer s.mu.Unlock()
	if key != "" {
		if prev, ok := s.byKey[key]; ok {
			if !equalForms(prev.form, form) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"type": "idempotency_error",
					"message": "Keys for idempotent requests can only be used with the same parameters they were first used with."}})
				return
			}
			w.Header().Set("Idempotent-Replayed", "true")
			writeJSON(w, s.refundJSON(s.refunds[prev.refund]))
			return
		}
	}
	pi := form.Get("payment_intent")
	pay, ok := s.payments[pi]
	if !ok {
		stripeError(w, http.StatusNotFound, "resource_missing", fmt.Sprintf("No such payment_intent: '%s'", pi))
		return
	}
	switch reason := form.Get("reason"); reason {
	case "", "duplicate", "fraudulent", "requested_by_customer":
	default:
		stripeError(w, http.StatusBadRequest, "parameter_invalid_string", "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer")
		return
	}
	var refunded int64
	for _, rf := range s.refunds {
		if rf.PaymentIntentID == pi && rf.Status != "failed" {
			refunded += rf.Amount
		}
	}
	if refunded >= pay.amount {
		stripeError(w, http.StatusBadRequest, "charge_already_refunded", fmt.Sprintf("Charge %s has already been refunded.", pay.charge))
		return
	}
	meta := map[string]string{}
	for k, v := range form {
		if name, ok := strings.CutPrefix(k, "metadata["); ok && strings.HasSuffix(name, "]") && len(v) > 0 {
			meta[strings.TrimSuffix(name, "]")] = v[0]
		}
	}
	rf := StripeRefund{
		ID: fmt.Sprintf("re_standin_%03d", len(s.refunds)+1), PaymentIntentID: pi, ChargeID: pay.charge,
		Amount: pay.amount - refunded, Currency: pay.currency, Reason: form.Get("reason"), Status: "pending",
		Metadata: meta, IdempotencyKey: key,
	}
	s.refunds = append(s.refunds, rf)
	if key != "" {
		s.byKey[key] = idempotent{form: form, refund: len(s.refunds) - 1}
	}
	writeJSON(w, s.refundJSON(rf))
}

func (s *StripeAccountServer) refundJSON(rf StripeRefund) map[string]any {
	for _, cur := range s.refunds {
		if cur.ID == rf.ID {
			rf = cur
		}
	}
	out := map[string]any{"id": rf.ID, "object": "refund", "amount": rf.Amount, "currency": rf.Currency,
		"payment_intent": rf.PaymentIntentID, "charge": rf.ChargeID, "status": rf.Status, "metadata": rf.Metadata,
		"created": time.Now().Unix()}
	if rf.Reason != "" {
		out["reason"] = rf.Reason
	} else {
		out["reason"] = nil
	}
	return out
}

func (s *StripeAccountServer) listEndpoints(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	after := r.URL.Query().Get("starting_after")
	data := []any{}
	started := after == ""
	for _, e := range s.endpoints {
		if !started {
			started = e.ID == after
			continue
		}
		status := e.Status
		if status == "" {
			status = "enabled"
		}
		data = append(data, map[string]any{"id": e.ID, "object": "webhook_endpoint", "url": e.URL,
			"status": status, "enabled_events": e.EnabledEvents, "livemode": false})
	}
	writeJSON(w, map[string]any{"object": "list", "url": "/v1/webhook_endpoints", "has_more": false, "data": data})
}

func equalForms(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
