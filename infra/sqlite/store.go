package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/orderflow/orderflow/domain"
)

// listPageSize is how many orders List reads per query; fn runs between
// pages, never inside a transaction, so writers are not held up.
const listPageSize = 100

var _ domain.Store = (*Store)(nil)

// Store keeps orders in the orders table: the indexed fields as columns, the
// whole record as JSON with the domain's JSON names.
type Store struct {
	db *DB
}

// NewStore returns the orders store on db.
func NewStore(db *DB) *Store { return &Store{db: db} }

// Create writes a new order; ErrAlreadyExists if the id is taken.
func (s *Store) Create(ctx context.Context, o domain.Order) error {
	if o.ID == "" {
		return fmt.Errorf("sqlite: create order: %w: id is required", domain.ErrInvalid)
	}
	row, err := encodeOrder(o)
	if err != nil {
		return fmt.Errorf("sqlite: create order %s: %w", o.ID, err)
	}
	res, err := s.db.exec(ctx, `INSERT INTO orders
		(id, status, user_id, seller_id, stripe_payment_intent_id, requires_review, version, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		o.ID, string(o.Status), o.UserID, o.SellerID, o.StripePaymentIntentID, o.RequiresReview, o.Version, row)
	if err != nil {
		return fmt.Errorf("sqlite: create order %s: %w", o.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: create order %s: %w", o.ID, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: create order %s: %w", o.ID, domain.ErrAlreadyExists)
	}
	return nil
}

// Get reads an order; ErrNotFound if there is none.
func (s *Store) Get(ctx context.Context, id string) (domain.Order, error) {
	var data string
	var version int64
	err := s.db.noteDamage(s.db.queryRow(ctx, `SELECT version, data FROM orders WHERE id = ?`, id).Scan(&version, &data))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Order{}, fmt.Errorf("sqlite: get order %s: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Order{}, fmt.Errorf("sqlite: get order %s: %w", id, err)
	}
	o, err := decodeOrder(data, version)
	if err != nil {
		return domain.Order{}, fmt.Errorf("sqlite: get order %s: %w", id, err)
	}
	return o, nil
}

// Save replaces the order, only if the stored version is expectedVersion and
// eventID (when set) was not applied yet. The check and the write are one
// step of a transaction that concurrent Saves (and Sends) share, each in its
// own savepoint (group commit): a failed check answers only its caller and
// neither undoes nor repeats the others. The applied check also reads the
// timeline, because appliedEvents is bounded.
// o.Version must be above expectedVersion: a write that does not move the
// version would let a concurrent writer's check pass and lose an update.
func (s *Store) Save(ctx context.Context, o domain.Order, expectedVersion int64, eventID string) error {
	if o.Version <= expectedVersion {
		return fmt.Errorf("sqlite: save order %s: %w: version %d must be above the expected %d",
			o.ID, domain.ErrInvalid, o.Version, expectedVersion)
	}
	row, err := encodeOrder(o)
	if err != nil {
		return fmt.Errorf("sqlite: save order %s: %w", o.ID, err)
	}
	err = s.db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var data string
		var version int64
		var indexed [4]string // status, user_id, seller_id, stripe_payment_intent_id
		err := s.db.queryRowTx(ctx, tx, `SELECT version, data, status, user_id, seller_id, stripe_payment_intent_id FROM orders WHERE id = ?`,
			o.ID).Scan(&version, &data, &indexed[0], &indexed[1], &indexed[2], &indexed[3])
		if errors.Is(err, sql.ErrNoRows) {
			return domain.ErrNotFound
		}
		if err != nil {
			return err
		}
		if eventID != "" && mayHaveApplied(data, eventID) {
			stored, err := decodeOrder(data, version)
			if err != nil {
				return err
			}
			if stored.HasApplied(eventID) {
				return fmt.Errorf("event %s: %w", eventID, domain.ErrAlreadyApplied)
			}
		}
		if version != expectedVersion {
			return fmt.Errorf("%w: stored version %d, expected %d", domain.ErrConflict, version, expectedVersion)
		}
		// Only the indexed columns that change are set: SQLite rewrites the
		// entries of every index whose column the SET names, changed or not,
		// and each rewritten index page is one more page in the commit.
		query := `UPDATE orders SET requires_review = ?, version = ?, data = ?`
		args := []any{o.RequiresReview, o.Version, row}
		for i, v := range [4]string{string(o.Status), o.UserID, o.SellerID, o.StripePaymentIntentID} {
			if v != indexed[i] {
				query += ", " + indexedColumns[i] + " = ?"
				args = append(args, v)
			}
		}
		_, err = s.db.execTx(ctx, tx, query+` WHERE id = ?`, append(args, o.ID)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: save order %s: %w", o.ID, err)
	}
	return nil
}

// indexedColumns are the orders columns with an index of their own, in the
// order Save compares them.
var indexedColumns = [4]string{"status", "user_id", "seller_id", "stripe_payment_intent_id"}

// mayHaveApplied reports whether the stored order JSON data can name eventID
// at all; when it cannot, Save skips decoding it for the applied check (a
// JSON decode inside the group committer holds up every other write).
//
// It answers false only when that is certain: data has no backslash, so
// every string in it is its literal bytes between two quotes and a quote is
// always a string's edge; eventID needs no escaping; and the quoted eventID
// does not occur in data. Then no string in data (appliedEvents, a timeline
// entry's eventId) equals eventID. Anything else is left to the decode.
func mayHaveApplied(data, eventID string) bool {
	if strings.IndexByte(data, '\\') >= 0 {
		return true
	}
	for i := 0; i < len(eventID); i++ {
		if c := eventID[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return true
		}
	}
	return strings.Contains(data, `"`+eventID+`"`)
}

// List calls fn for every order matching f, in id order. It reads through the
// index of the most selective field that is set (payment intent, user,
// seller, status) a page at a time and applies the rest of the filter in Go.
func (s *Store) List(ctx context.Context, f domain.Filter, fn func(domain.Order) error) error {
	column, value := "", ""
	switch {
	case f.PaymentIntentID != "":
		column, value = "stripe_payment_intent_id", f.PaymentIntentID
	case f.UserID != "":
		column, value = "user_id", f.UserID
	case f.SellerID != "":
		column, value = "seller_id", f.SellerID
	case f.Status != "":
		column, value = "status", string(f.Status)
	}
	query := `SELECT version, data, id FROM orders WHERE id > ? ORDER BY id LIMIT ?`
	if column != "" {
		// column is one of the constants above, never input.
		query = `SELECT version, data, id FROM orders WHERE ` + column + ` = ? AND id > ? ORDER BY id LIMIT ?`
	}
	after := ""
	for {
		args := []any{after, listPageSize}
		if column != "" {
			args = append([]any{value}, args...)
		}
		page, last, err := s.page(ctx, query, args)
		s.db.noteDamage(err)
		if err != nil {
			return fmt.Errorf("sqlite: list orders: %w", err)
		}
		for _, o := range page {
			if !f.Match(o) {
				continue
			}
			if err := fn(o); err != nil {
				return err
			}
		}
		if len(page) < listPageSize {
			return nil
		}
		after = last
	}
}

// page reads one page of orders and closes the rows before returning.
func (s *Store) page(ctx context.Context, query string, args []any) ([]domain.Order, string, error) {
	rows, err := s.db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var page []domain.Order
	last := ""
	for rows.Next() {
		var version int64
		var data string
		if err := rows.Scan(&version, &data, &last); err != nil {
			return nil, "", err
		}
		o, err := decodeOrder(data, version)
		if err != nil {
			return nil, "", fmt.Errorf("order %s: %w", last, err)
		}
		page = append(page, o)
	}
	return page, last, rows.Err()
}

// encodeOrder stores every time in UTC so a read gives back UTC times.
func encodeOrder(o domain.Order) (string, error) {
	c := o.Clone()
	c.CreatedAt = c.CreatedAt.UTC()
	c.UpdatedAt = c.UpdatedAt.UTC()
	if c.PaymentFailedAt != nil {
		t := c.PaymentFailedAt.UTC()
		c.PaymentFailedAt = &t
	}
	for i := range c.Timeline {
		c.Timeline[i].At = c.Timeline[i].At.UTC()
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode: %w", err)
	}
	return string(b), nil
}

func decodeOrder(data string, version int64) (domain.Order, error) {
	var o domain.Order
	if err := json.Unmarshal([]byte(data), &o); err != nil {
		return domain.Order{}, fmt.Errorf("decode: %w", err)
	}
	o.Version = version
	if o.Timeline == nil {
		o.Timeline = []domain.TimelineEntry{}
	}
	return o, nil
}
