package domain_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/domain"
)

type strictInner struct {
	ID     string            `json:"id"`
	Amount int64             `json:"amount"`
	Meta   map[string]string `json:"metadata"`
}

type strictBase struct {
	Created int64 `json:"created"`
}

type strictDoc struct {
	strictBase
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Status  string          `json:"status,omitempty"`
	Skip    string          `json:"-"`
	Untag   string          // matched by its Go name, "Untag"
	Object  *strictInner    `json:"object"`
	Items   []strictInner   `json:"items"`
	ByKey   map[string]any  `json:"byKey"`
	Raw     json.RawMessage `json:"raw"`
	At      time.Time       `json:"at"`
	Unknown any             `json:"any"`
}

func TestDecodeStrictAccepts(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in string }{
		{"plain", `{"id":"evt_1","type":"charge.refunded","object":{"id":"ch_1","amount":5}}`},
		{"unknown keys anywhere", `{"id":"evt_1","livemode":false,"object":{"id":"ch_1","refunds":{"ID":1,"data":[]}}}`},
		{"surrounding space", " \n\t{\"id\":\"evt_1\"}\r\n "},
		{"escaped key equal to the name", `{"\u0069d":"evt_1"}`},
		{"surrogate pair and escapes", `{"id":"evt_\ud83d\ude00\\ud800\"x"}`},
		{"promoted field of an embedded struct", `{"created":12}`},
		{"untagged field by its Go name", `{"Untag":"x"}`},
		{"map keys are free", `{"byKey":{"ID":1,"id":2,"Id":{"TYPE":1,"type":2}}}`},
		{"keys inside a raw message are free", `{"raw":{"ID":1,"id":2}}`},
		{"keys inside a value of any type are free", `{"any":{"ID":1,"id":2}}`},
		{"time", `{"at":"2026-01-02T03:04:05Z"}`},
		{"null and empty", `{"object":null,"items":[],"byKey":{}}`},
		{"strings holding braces and quotes", `{"id":"{\"ID\":1,\"id\":2}","type":"]}"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got, want strictDoc
			if err := domain.DecodeStrict([]byte(tc.in), &got); err != nil {
				t.Fatalf("DecodeStrict: %v", err)
			}
			if err := json.Unmarshal([]byte(tc.in), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("DecodeStrict = %+v, json.Unmarshal = %+v", got, want)
			}
		})
	}
}

func TestDecodeStrictRejects(t *testing.T) {
	t.Parallel()
	many := make([]string, 40)
	for i := range many {
		many[i] = fmt.Sprintf(`"k%d":%d`, i, i)
	}
	cases := []struct {
		name, in string
		want     string // fragment of the message, path included
	}{
		{"trailing garbage", `{"id":"evt_1"} garbage`, "data after the JSON value at byte 14"},
		{"two values", `{"id":"evt_1"}{"id":"evt_2"}`, "data after the JSON value at byte 14"},
		{"not JSON", `{"id":`, "not valid JSON"},
		{"empty", ``, "not valid JSON"},
		{"invalid UTF-8 in a value", "{\"id\":\"evt_\xff\"}", "not valid UTF-8 at byte 11"},
		{"invalid UTF-8 in a key", "{\"i\xc3\":1}", "not valid UTF-8 at byte 3"},
		{"lone high surrogate", `{"id":"evt_\ud800"}`, `lone UTF-16 surrogate \ud800 in a string at $.id`},
		{"high surrogate then not a low one", `{"id":"\uD800\u0041"}`, `lone UTF-16 surrogate \ud800`},
		{"lone low surrogate in a key", `{"a\udc00":1}`, `lone UTF-16 surrogate \udc00 in a string at $`},
		{"wrong type", `{"object":{"amount":"lots"}}`, "amount"},
		{"key in another case", `{"id":"evt_1","TYPE":"charge.refunded"}`, `key "TYPE" matches field "type" only when case is ignored; keys must match exactly at $`},
		{"escaped key in another case", `{"\u0049D":"evt_1"}`, `key "ID" matches field "id"`},
		{"Unicode folding (long s)", `{"ſtatus":"x"}`, `key "ſtatus" matches field "status"`},
		{"untagged field in another case", `{"untag":"x"}`, `key "untag" matches field "Untag"`},
		{"promoted field in another case", `{"Created":1}`, `key "Created" matches field "created"`},
		{"nested, through a pointer", `{"object":{"Amount":1}}`, `at $.object`},
		{"nested, in a slice", `{"items":[{"id":"a"},{"ID":"b"}]}`, `at $.items[1]`},
		{"map value struct keys are checked", `{"object":{"metadata":{"a":"b","a":"c"}}}`, `key "a" appears twice in one object at $.object.metadata`},
		{"duplicate key", `{"id":"evt_1","id":"evt_2"}`, `key "id" appears twice in one object at $`},
		{"duplicate key, one escaped", `{"id":"evt_1","\u0069d":"evt_2"}`, `key "id" appears twice`},
		{"duplicate inside an unknown field", `{"livemode":{"x":1,"x":2}}`, `key "x" appears twice in one object at $.livemode`},
		{"duplicate inside a raw message", `{"raw":[{"x":1,"x":2}]}`, `at $.raw[0]`},
		{"duplicate in a large object", `{` + strings.Join(many, ",") + `,"k3":0}`, `key "k3" appears twice`},
		{"odd key in the path is quoted", `{"byKey":{"a b":{"x":1,"x":2}}}`, `at $.byKey["a b"]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var d strictDoc
			err := domain.DecodeStrict([]byte(tc.in), &d)
			if !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %q, want one line", err)
			}
		})
	}
}

func TestDecodeStrictKnown(t *testing.T) {
	t.Parallel()
	var d strictDoc
	if err := domain.DecodeStrictKnown([]byte(`{"id":"a","byKey":{"free":1},"any":{"free":2},"raw":{"free":3}}`), &d); err != nil {
		t.Fatalf("known keys and free map keys: %v", err)
	}
	err := domain.DecodeStrictKnown([]byte(`{"id":"a","object":{"id":"b","colour":"red"}}`), &d)
	if !errors.Is(err, domain.ErrInvalid) || !strings.Contains(err.Error(), `unknown key "colour" at $.object`) {
		t.Fatalf("err = %v, want an unknown-key error at $.object", err)
	}
	// DecodeStrict lets the same input through: Stripe adds fields.
	if err := domain.DecodeStrict([]byte(`{"id":"a","object":{"id":"b","colour":"red"}}`), &d); err != nil {
		t.Fatalf("DecodeStrict: %v", err)
	}
}

func TestDecodeStrictNeedsAPointer(t *testing.T) {
	t.Parallel()
	var d strictDoc
	for _, v := range []any{d, (*strictDoc)(nil), nil} {
		if err := domain.DecodeStrict([]byte(`{}`), v); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("DecodeStrict(%T) = %v, want ErrInvalid", v, err)
		}
	}
}

func TestDecodeStrictTopLevelKinds(t *testing.T) {
	t.Parallel()
	var m map[string]strictInner
	if err := domain.DecodeStrict([]byte(`{"a":{"id":"x"},"b":{"ID":"y"}}`), &m); err == nil || !strings.Contains(err.Error(), "at $.b") {
		t.Errorf("map of structs: err = %v, want a case error at $.b", err)
	}
	var s []*strictInner
	if err := domain.DecodeStrict([]byte(`[null,{"id":"x","id":"y"}]`), &s); err == nil || !strings.Contains(err.Error(), "at $[1]") {
		t.Errorf("slice of pointers: err = %v, want a duplicate error at $[1]", err)
	}
	var n int
	if err := domain.DecodeStrict([]byte(` 42 `), &n); err != nil || n != 42 {
		t.Errorf("number: %d, %v", n, err)
	}
}

// BenchmarkDecodeStrict compares DecodeStrict with json.Unmarshal on a
// Stripe event fixture, to show what the key checks add.
func BenchmarkDecodeStrict(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "events", "payment_intent.succeeded.json"))
	if err != nil {
		b.Fatal(err)
	}
	type envelope struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Data struct {
			Object strictInner `json:"object"`
		} `json:"data"`
	}
	// large is the fixture grown to the 256 KiB body limit with many small
	// unknown fields, the worst case for the key checks.
	var pad strings.Builder
	for i := 0; pad.Len() < 250<<10; i++ {
		fmt.Fprintf(&pad, `"unknown_%d":{"a":%d,"b":"x"},`, i, i)
	}
	large := []byte(strings.Replace(string(raw), `"id"`, pad.String()+`"id"`, 1))
	for _, in := range []struct {
		name string
		raw  []byte
	}{{"fixture", raw}, {"256KiB", large}} {
		for _, bc := range []struct {
			name   string
			decode func([]byte, any) error
		}{{"json.Unmarshal", json.Unmarshal}, {"DecodeStrict", domain.DecodeStrict}} {
			b.Run(in.name+"/"+bc.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(in.raw)))
				for i := 0; i < b.N; i++ {
					var e envelope
					if err := bc.decode(in.raw, &e); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
