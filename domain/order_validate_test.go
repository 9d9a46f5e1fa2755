package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
)

func TestValidateIDs(t *testing.T) {
	t.Parallel()
	valid := domain.Order{ID: "ord_1", UserID: "usr_1", SellerID: "sel_1", ProductID: "prd_1", Amount: 100, Currency: "usd"}
	cases := []struct {
		name string
		edit func(*domain.Order)
		want string // "" when valid
	}{
		{"valid", func(*domain.Order) {}, ""},
		{"non-ASCII letters are fine", func(o *domain.Order) { o.ID = "ordre_été_日本" }, ""},
		{"id at the byte limit", func(o *domain.Order) { o.ID = strings.Repeat("a", 1024) }, ""},
		{"seller and product are optional", func(o *domain.Order) { o.SellerID, o.ProductID = "", "" }, ""},
		{"empty id", func(o *domain.Order) { o.ID = "" }, "id is required"},
		{"empty userId", func(o *domain.Order) { o.UserID = "" }, "userId is required"},
		{"id over the byte limit", func(o *domain.Order) { o.ID = strings.Repeat("a", 1025) }, "id is 1025 bytes, more than 1024"},
		{"500 KB id", func(o *domain.Order) { o.ID = strings.Repeat("a", 500_000) }, "more than 1024"},
		{"multibyte id over the limit", func(o *domain.Order) { o.ID = strings.Repeat("é", 513) }, "id is 1026 bytes"},
		{"leading space", func(o *domain.Order) { o.ID = " ord_1" }, "id has leading or trailing space"},
		{"trailing newline", func(o *domain.Order) { o.UserID = "usr_1\n" }, "userId has leading or trailing space"},
		{"only spaces", func(o *domain.Order) { o.ID = "   " }, "id has leading or trailing space"},
		{"control character", func(o *domain.Order) { o.ID = "ord\x001" }, "id holds control character U+0000"},
		{"escape sequence", func(o *domain.Order) { o.SellerID = "sel\x1b[31m" }, "sellerId holds control character U+001B"},
		{"C1 control", func(o *domain.Order) { o.ProductID = "prd\u0085x" }, "productId holds control character U+0085"},
		{"right-to-left override", func(o *domain.Order) { o.ID = "ord_\u202Egnp.exe" }, "id holds bidi control U+202E"},
		{"left-to-right isolate", func(o *domain.Order) { o.UserID = "usr\u2066_1" }, "userId holds bidi control U+2066"},
		{"right-to-left mark", func(o *domain.Order) { o.ID = "ord\u200F1" }, "id holds bidi control U+200F"},
		{"arabic letter mark", func(o *domain.Order) { o.ID = "ord\u061C1" }, "id holds bidi control U+061C"},
		{"invalid UTF-8", func(o *domain.Order) { o.ID = "ord_\xff" }, "id is not valid UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := valid
			tc.edit(&o)
			_, err := domain.NewOrder(o, time.Unix(1_700_000_000, 0))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("NewOrder: %v", err)
				}
				return
			}
			if !errors.Is(err, domain.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalid mentioning %q", err, tc.want)
			}
			if len(err.Error()) > 300 || strings.ContainsAny(err.Error(), "\n\x00\u202E") {
				t.Errorf("error is not one short clean line: %q", err)
			}
		})
	}
}

func TestValidateReportsEveryIDProblem(t *testing.T) {
	t.Parallel()
	_, err := domain.NewOrder(domain.Order{ID: " x", UserID: "", SellerID: "s\u202A", Currency: "usd"}, time.Unix(0, 0))
	for _, want := range []string{"id has leading", "userId is required", "sellerId holds bidi"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
}

// Invisible characters of every kind, not only controls and bidi controls,
// are refused in ids (an id that prints like another is another key).
func TestValidateRefusesInvisibleCharacters(t *testing.T) {
	t.Parallel()
	for _, r := range []rune{'\u2028', '\u2029', '\u200B', '\u200D', '\uFEFF', '\u00AD', '\U000E0001', '\u2060'} {
		o := domain.Order{ID: "ord" + string(r) + "1", UserID: "usr_1", Amount: 1, Currency: "usd",
			Status: domain.StatusPending, PaymentStatus: domain.PaymentPending}
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "id holds") {
			t.Errorf("%U: err = %v, want it refused", r, err)
		}
	}
}
