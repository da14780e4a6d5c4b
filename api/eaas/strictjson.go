package eaas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// keys is the shape of a JSON value: an object with exactly these fields,
// an array of elem, or (nil) a scalar.
type keys struct {
	fields map[string]*keys
	array  bool
	elem   *keys
}

// checkKeys walks b's tokens against schema: encoding/json would take an
// unknown field in a nested object with DisallowUnknownFields, but it
// matches names case-insensitively and keeps the last of repeated keys,
// so two readers of one document could disagree.
func checkKeys(b []byte, schema *keys) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := walk(dec, schema, "$"); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("trailing data after the JSON value at offset %d", dec.InputOffset())
	}
	return nil
}

func walk(dec *json.Decoder, s *keys, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return describeJSONError(err, dec)
	}
	d, isDelim := tok.(json.Delim)
	switch {
	case !isDelim && s != nil:
		return fmt.Errorf("%s at offset %d: want %s, got a scalar", path, dec.InputOffset(), s.kind())
	case !isDelim:
		return nil
	case d == '{' && (s == nil || s.fields == nil), d == '[' && (s == nil || !s.array):
		return fmt.Errorf("%s at offset %d: want %s, got %s", path, dec.InputOffset(), s.kind(), map[json.Delim]string{'{': "an object", '[': "an array"}[d])
	case d == '{':
		return walkObject(dec, s, path)
	}
	for i := 0; dec.More(); i++ {
		if err := walk(dec, s.elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
	return closing(dec)
}

func walkObject(dec *json.Decoder, s *keys, path string) error {
	seen := make(map[string]bool, len(s.fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return describeJSONError(err, dec)
		}
		key, _ := tok.(string)
		sub, known := s.fields[key]
		switch {
		case !known:
			return fmt.Errorf("%s at offset %d: unknown field %.64q", path, dec.InputOffset(), key)
		case seen[key]:
			return fmt.Errorf("%s at offset %d: repeated field %q", path, dec.InputOffset(), key)
		}
		seen[key] = true
		if err := walk(dec, sub, path+"."+key); err != nil {
			return err
		}
	}
	return closing(dec)
}

// closing reads the delimiter that ends an object or array.
func closing(dec *json.Decoder) error {
	if _, err := dec.Token(); err != nil {
		return describeJSONError(err, dec)
	}
	return nil
}

func (s *keys) kind() string {
	switch {
	case s == nil:
		return "a scalar"
	case s.array:
		return "an array"
	}
	return "an object"
}

func describeJSONError(err error, dec *json.Decoder) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("malformed JSON at offset %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		return fmt.Errorf("field %q at offset %d: want %s, got %s", typ.Field, typ.Offset, typ.Type, typ.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("malformed JSON: truncated at offset %d", dec.InputOffset())
	default:
		return fmt.Errorf("at offset %d: %w", dec.InputOffset(), err)
	}
}
