package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/orderflow/orderflow/domain"
)

// Reasons an access check denies a download (SPEC §13).
const (
	AccessRequiresReview    = "requires_review"
	AccessNoOrder           = "no_order"
	AccessDownloadsDisabled = "downloads_disabled"
)

// AccessDecision is the answer to "may this buyer download this product",
// shaped as the body of GET /v1/access; HTTPStatus is the status to answer
// it with (200, 403 or 423).
type AccessDecision struct {
	Allowed    bool     `json:"allowed"`
	Reason     string   `json:"reason,omitempty"`
	OrderID    string   `json:"orderId,omitempty"`
	OrderIDs   []string `json:"orderIds,omitempty"`
	HTTPStatus int      `json:"-"`
}

// AccessChecker decides downloads (SPEC §13, playbook §8 and §13) for the
// products service (GET /v1/access) and operators (`orderflow access check`).
type AccessChecker struct {
	Store domain.Store
	// Disabled is the kill switch (DOWNLOADS_DISABLED): every check answers
	// 403 downloads_disabled without reading anything.
	Disabled bool
}

// Check answers from UserIndex (the buyer's completed orders), never a scan.
// An order grants productID when it is completed and for that product; the
// download is allowed when one does and none of them requires review (423
// with every flagged granting order otherwise). Errors: domain.ErrInvalid
// for an empty user or product; anything else is the store failing.
func (a AccessChecker) Check(ctx context.Context, userID, productID string) (AccessDecision, error) {
	if a.Disabled {
		return AccessDecision{Reason: AccessDownloadsDisabled, HTTPStatus: http.StatusForbidden}, nil
	}
	var problems []string
	if strings.TrimSpace(userID) == "" {
		problems = append(problems, "userId is empty")
	}
	if strings.TrimSpace(productID) == "" {
		problems = append(problems, "productId is empty")
	}
	if len(problems) > 0 {
		return AccessDecision{}, fmt.Errorf("%w: access check: %s", domain.ErrInvalid, strings.Join(problems, "; "))
	}
	var granting []domain.Order
	err := a.Store.List(ctx, domain.Filter{UserID: userID, Status: domain.StatusCompleted, IndexOnly: true}, func(o domain.Order) error {
		if o.ProductID == productID {
			granting = append(granting, o)
		}
		return nil
	})
	if err != nil {
		return AccessDecision{}, fmt.Errorf("access check for user %s: %w", userID, err)
	}
	if len(granting) == 0 {
		return AccessDecision{Reason: AccessNoOrder, HTTPStatus: http.StatusForbidden}, nil
	}
	var flagged []string
	for _, o := range granting {
		if o.RequiresReview {
			flagged = append(flagged, o.ID)
		}
	}
	if len(flagged) > 0 {
		slices.Sort(flagged)
		return AccessDecision{Reason: AccessRequiresReview, OrderIDs: flagged, HTTPStatus: http.StatusLocked}, nil
	}
	// The oldest granting order is the purchase; later ones are repeats.
	first := slices.MinFunc(granting, func(x, y domain.Order) int {
		if c := x.CreatedAt.Compare(y.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return AccessDecision{Allowed: true, OrderID: first.ID, HTTPStatus: http.StatusOK}, nil
}

// ServeHTTP answers GET /v1/access?userId=…&productId=… with the decision's
// status and body (SPEC §13); 400 without both parameters, 503 when the
// store fails, with the admin API's error body. It does no authentication:
// mount it behind the service-role check.
func (a AccessChecker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeAccessError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
		return
	}
	q := r.URL.Query()
	d, err := a.Check(r.Context(), q.Get("userId"), q.Get("productId"))
	switch {
	case errors.Is(err, domain.ErrInvalid):
		writeAccessError(w, http.StatusBadRequest, "invalid_request", "userId and productId are required")
		return
	case err != nil:
		writeAccessError(w, http.StatusServiceUnavailable, "unavailable", "the orders store cannot answer; retry")
		return
	}
	w.WriteHeader(d.HTTPStatus)
	_ = json.NewEncoder(w).Encode(d)
}

func writeAccessError(w http.ResponseWriter, status int, code, msg string) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
