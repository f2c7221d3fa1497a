package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// ReadReport reads a report written by WriteReport. Unknown fields are
// refused, so a file that is not a report (or a report from a bootchain
// that writes fields this one does not know) says so instead of reading
// as an empty run.
func ReadReport(path string) (*Report, error) {
	b, err := ReadRegular(path, 0)
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", path, err)
	}
	r, err := DecodeReport(b)
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", path, err)
	}
	return r, nil
}

// DecodeReport parses a report's JSON (see ReadReport).
func DecodeReport(b []byte) (*Report, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r Report
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("not a bootchain report: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("not a bootchain report: data after the JSON object")
	}
	if r.Chain == "" || r.Digest == "" {
		return nil, fmt.Errorf("not a bootchain report: no chain or digest")
	}
	return &r, nil
}
