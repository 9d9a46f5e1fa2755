package domain

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// DecodeStrict decodes exactly one JSON value from data into v, as
// json.Unmarshal does, and rejects with ErrInvalid what Go would read
// differently from other JSON readers:
//
//   - data after the value (a json.Decoder stops at the first value and
//     ignores the rest);
//   - an object key that is not byte-equal to the JSON name of the struct
//     field it would fill but equal to it ignoring case ("ID" for "id"): Go
//     fills the field, Stripe's own libraries and JavaScript do not, so a
//     signed body with an added "TYPE" would mean two things;
//   - a key repeated in one object, anywhere in the value: Go keeps the last
//     and so does JavaScript, but an ambiguous signed body is a red flag and
//     Stripe never sends one;
//   - invalid UTF-8, which JSON forbids (RFC 8259 §8.1), and escaped lone
//     UTF-16 surrogates ("\ud800"): Go replaces both with U+FFFD without a
//     word, so "ord_\xff" would be stored as "ord_�".
//
// Keys that match no field are allowed (Stripe adds fields in new API
// versions); DecodeStrictKnown refuses them. Errors name the JSON path, as
// in `$.data.object`. When it fails, v may be partly filled.
func DecodeStrict(data []byte, v any) error { return decodeStrict(data, v, false) }

// DecodeStrictKnown is DecodeStrict that also refuses keys matching no
// struct field, for input written by people (orders put), where an unknown
// key is a typo that would otherwise be dropped silently.
func DecodeStrictKnown(data []byte, v any) error { return decodeStrict(data, v, true) }

func decodeStrict(data []byte, v any, known bool) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("%w: DecodeStrict needs a non-nil pointer, got %T", ErrInvalid, v)
	}
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: not valid UTF-8 at byte %d; JSON must be UTF-8", ErrInvalid, invalidUTF8At(data))
	}
	// Unmarshal first: it validates the syntax, so the walk below can
	// assume well-formed JSON, and it is the only decode.
	if err := json.Unmarshal(data, v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			if end, ok := firstValueEnd(data); ok {
				return fmt.Errorf("%w: data after the JSON value at byte %d; send exactly one JSON value", ErrInvalid, end)
			}
			return fmt.Errorf("%w: not valid JSON: %v", ErrInvalid, err)
		}
		return fmt.Errorf("%w: %v", ErrInvalid, strings.TrimPrefix(err.Error(), "json: "))
	}
	w := walker{data: data, known: known}
	w.skipSpace()
	return w.value(rv.Type().Elem())
}

// invalidUTF8At is the offset of the first byte that is not valid UTF-8.
func invalidUTF8At(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(data)
}

// firstValueEnd reports where the first JSON value in data ends, when data
// starts with a complete one: then a syntax error is data after it.
func firstValueEnd(data []byte) (int64, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return 0, false
	}
	return dec.InputOffset(), true
}

// walker checks keys against the Go types they decode into. It runs on
// input json.Unmarshal accepted, so it does not report syntax errors; it
// still never reads past the end of data.
//
// It allocates next to nothing, because the ingress runs it on every webhook
// body: keys are slices of data (decoded copies only when escaped), and the
// keys of every open object share one stack that is sorted, per object, to
// find repeats.
type walker struct {
	data  []byte
	pos   int
	known bool
	path  []pathElem // where the walk is, formatted only for an error
	keys  [][]byte   // keys of the open objects, innermost last
}

type pathElem struct {
	key   []byte
	index int // -1 for a key
}

func (w *walker) fail(format string, args ...any) error {
	var sb strings.Builder
	sb.WriteString("$")
	for _, e := range w.path {
		if e.index >= 0 {
			sb.WriteString("[" + strconv.Itoa(e.index) + "]")
		} else if isPlainName(string(e.key)) {
			sb.WriteString("." + string(e.key))
		} else {
			sb.WriteString("[" + strconv.Quote(string(e.key)) + "]")
		}
	}
	return fmt.Errorf("%w: %s at %s", ErrInvalid, fmt.Sprintf(format, args...), sb.String())
}

func isPlainName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func (w *walker) skipSpace() {
	for w.pos < len(w.data) {
		switch w.data[w.pos] {
		case ' ', '\t', '\n', '\r':
			w.pos++
		default:
			return
		}
	}
}

// value walks one value that decodes into t; a nil t means the keys inside
// are free (map values of interface type, unknown fields, Unmarshalers)
// and only repeated keys are checked.
func (w *walker) value(t reflect.Type) error {
	if t != nil {
		t = checkedType(t)
	}
	if w.pos >= len(w.data) {
		return nil
	}
	switch w.data[w.pos] {
	case '{':
		return w.object(t)
	case '[':
		return w.array(t)
	case '"':
		_, err := w.skipString()
		return err
	default:
		// A number, true, false or null: up to the next delimiter.
		for w.pos < len(w.data) {
			switch w.data[w.pos] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return nil
			}
			w.pos++
		}
		return nil
	}
}

var checkedCache sync.Map // reflect.Type → reflect.Type (nil for unchecked)

// checkedType strips pointers and returns nil for types whose keys are not
// checked: ones that decode themselves and interfaces.
func checkedType(t reflect.Type) reflect.Type {
	if c, ok := checkedCache.Load(t); ok {
		ct, _ := c.(reflect.Type)
		return ct
	}
	ct := resolveChecked(t)
	checkedCache.Store(t, ct)
	return ct
}

func resolveChecked(t reflect.Type) reflect.Type {
	for t != nil {
		if decodesItself(t) {
			return nil
		}
		switch t.Kind() {
		case reflect.Pointer:
			t = t.Elem()
		case reflect.Interface:
			return nil
		default:
			return t
		}
	}
	return nil
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func decodesItself(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return t.Implements(jsonUnmarshaler) || pt.Implements(jsonUnmarshaler) ||
		t.Implements(textUnmarshaler) || pt.Implements(textUnmarshaler)
}

func (w *walker) array(t reflect.Type) error {
	var elem reflect.Type
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		elem = t.Elem()
	}
	w.pos++ // [
	w.skipSpace()
	if w.pos < len(w.data) && w.data[w.pos] == ']' {
		w.pos++
		return nil
	}
	for i := 0; w.pos < len(w.data); i++ {
		w.path = append(w.path, pathElem{index: i})
		if err := w.value(elem); err != nil {
			return err
		}
		w.path = w.path[:len(w.path)-1]
		w.skipSpace()
		if w.pos >= len(w.data) {
			break
		}
		c := w.data[w.pos]
		w.pos++
		if c == ']' {
			return nil
		}
		w.skipSpace() // after ','
	}
	return nil
}

func (w *walker) object(t reflect.Type) error {
	var fields *structFields
	var elem reflect.Type
	switch {
	case t == nil:
	case t.Kind() == reflect.Struct:
		fields = fieldsOf(t)
	case t.Kind() == reflect.Map:
		elem = t.Elem()
	}
	w.pos++ // {
	w.skipSpace()
	if w.pos < len(w.data) && w.data[w.pos] == '}' {
		w.pos++
		return nil
	}
	base := len(w.keys)
	defer func() { w.keys = w.keys[:base] }()
	for w.pos < len(w.data) {
		key, err := w.str()
		if err != nil {
			return err
		}
		w.keys = append(w.keys, key)
		w.skipSpace()
		w.pos++ // :
		w.skipSpace()

		valueType := elem
		if fields != nil {
			f, ok := fields.byName[string(key)]
			switch {
			case ok:
				valueType = f
			case fields.foldMatch(key) != "":
				return w.fail("key %q matches field %q only when case is ignored; keys must match exactly", key, fields.foldMatch(key))
			case w.known:
				return w.fail("unknown key %q", key)
			default:
				valueType = nil
			}
		}
		w.path = append(w.path, pathElem{key: key, index: -1})
		if err := w.value(valueType); err != nil {
			return err
		}
		w.path = w.path[:len(w.path)-1]
		w.skipSpace()
		if w.pos >= len(w.data) {
			break
		}
		c := w.data[w.pos]
		w.pos++
		if c == '}' {
			break
		}
		w.skipSpace() // after ','
	}
	// Sorting this object's keys in place puts repeats side by side, with no
	// allocation however many keys there are.
	keys := w.keys[base:]
	slices.SortFunc(keys, bytes.Compare)
	for i := 1; i < len(keys); i++ {
		if bytes.Equal(keys[i-1], keys[i]) {
			return w.fail("key %q appears twice in one object", keys[i])
		}
	}
	return nil
}

// str reads a string at w.pos and returns it decoded as Go decodes it,
// escapes resolved, so "\u0069d" is "id" (the input is valid UTF-8).
func (w *walker) str() ([]byte, error) {
	start := w.pos
	escaped, err := w.skipString()
	if err != nil {
		return nil, err
	}
	raw := w.data[start:w.pos]
	if !escaped {
		return raw[1 : len(raw)-1], nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, w.fail("malformed string: %v", err)
	}
	return []byte(s), nil
}

// skipString moves past the string at w.pos and reports whether it holds
// escapes. It refuses an escaped UTF-16 surrogate that is not part of a
// pair ("\ud800"): Go turns it into U+FFFD without a word, as it would
// invalid UTF-8.
func (w *walker) skipString() (escaped bool, err error) {
	for w.pos++; w.pos < len(w.data); w.pos++ {
		switch w.data[w.pos] {
		case '"':
			w.pos++
			return escaped, nil
		case '\\':
			escaped = true
			if w.pos+1 < len(w.data) && w.data[w.pos+1] == 'u' {
				if r, ok := w.hex4(w.pos + 2); ok && utf16.IsSurrogate(r) {
					low, ok := rune(0), false
					if r < 0xdc00 && w.pos+7 < len(w.data) && w.data[w.pos+6] == '\\' && w.data[w.pos+7] == 'u' {
						low, ok = w.hex4(w.pos + 8)
					}
					if !ok || low < 0xdc00 || low > 0xdfff {
						return escaped, w.fail("lone UTF-16 surrogate \\u%04x in a string", r)
					}
					w.pos += 6 // the high half; the loop steps over the low one
				}
			}
			w.pos++
		}
	}
	return escaped, nil
}

// hex4 reads the four hex digits of a \u escape starting at i.
func (w *walker) hex4(i int) (rune, bool) {
	if i+4 > len(w.data) {
		return 0, false
	}
	var r rune
	for _, c := range w.data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// structFields are the JSON names a struct type decodes, as encoding/json
// resolves them: the tag name, else the field name; fields of embedded
// structs promoted unless a shallower or tagged field has the same name.
type structFields struct {
	byName map[string]reflect.Type
	names  []string
}

// foldMatch returns the field name key equals ignoring case (Unicode
// simple folding, as encoding/json matches), or "".
func (f *structFields) foldMatch(key []byte) string {
	for _, n := range f.names {
		if bytes.EqualFold([]byte(n), key) {
			return n
		}
	}
	return ""
}

var fieldCache sync.Map // reflect.Type → *structFields

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := resolveFields(t)
	fieldCache.Store(t, f)
	return f
}

type candidate struct {
	name   string
	typ    reflect.Type
	depth  int
	tagged bool
}

func resolveFields(t reflect.Type) *structFields {
	var cands []candidate
	visited := map[reflect.Type]bool{}
	var walk func(t reflect.Type, depth int)
	walk = func(t reflect.Type, depth int) {
		if visited[t] {
			return
		}
		visited[t] = true
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			ft := sf.Type
			if sf.Anonymous {
				et := ft
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if !sf.IsExported() && et.Kind() != reflect.Struct {
					continue
				}
				if name == "" && et.Kind() == reflect.Struct {
					walk(et, depth+1)
					continue
				}
			} else if !sf.IsExported() {
				continue
			}
			tagged := name != ""
			if !tagged {
				name = sf.Name
			}
			cands = append(cands, candidate{name: name, typ: ft, depth: depth, tagged: tagged})
		}
	}
	walk(t, 0)

	// By name, the shallowest field wins, a tagged one among equals; two
	// left standing cancel out and the name fills nothing, as in Go.
	best := map[string][]candidate{}
	for _, c := range cands {
		cur := best[c.name]
		switch {
		case len(cur) == 0 || c.depth < cur[0].depth:
			best[c.name] = []candidate{c}
		case c.depth == cur[0].depth:
			best[c.name] = append(cur, c)
		}
	}
	f := &structFields{byName: map[string]reflect.Type{}}
	for name, cs := range best {
		var tagged []candidate
		for _, c := range cs {
			if c.tagged {
				tagged = append(tagged, c)
			}
		}
		switch {
		case len(cs) == 1:
			f.byName[name] = cs[0].typ
		case len(tagged) == 1:
			f.byName[name] = tagged[0].typ
		default:
			continue
		}
		f.names = append(f.names, name)
	}
	return f
}
