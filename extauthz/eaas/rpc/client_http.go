package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/meshward/meshward/api/eaas"
)

// RequesterClient reaches a coordinator's requester endpoints over HTTP, as
// a sidecar filter does (tests, benchmarks, clients that are not Envoy).
// HTTP must present the requester's mesh certificate.
type RequesterClient struct {
	HTTP *http.Client
	Base string // https://host:port
}

// ErrForwardPlaintext is the coordinator saying that no replica could serve
// and the subscriber chose to forward raw data.
var ErrForwardPlaintext = errors.New("eaas: no replica could serve: forward plaintext")

// Refusal is a coordinator's non-200 answer.
type Refusal struct {
	Status int
	eaas.ErrorAnswer
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("eaas: %d %s: %s", r.Status, r.Reason, r.Message)
}

// Enrol fetches the caller's enrolment.
func (c RequesterClient) Enrol(ctx context.Context) (eaas.Enrolment, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+eaas.EnrolmentPath, nil)
	if err != nil {
		return eaas.Enrolment{}, err
	}
	body, err := c.do(req, eaas.MaxEnrolmentBytes)
	if err != nil {
		return eaas.Enrolment{}, err
	}
	return eaas.DecodeEnrolment(body)
}

// Send posts a frame batch and returns the answer's batch.
func (c RequesterClient) Send(ctx context.Context, batch []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+eaas.MessagesPath, bytes.NewReader(batch))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", eaas.ContentType)
	return c.do(req, 80<<20)
}

func (c RequesterClient) do(req *http.Request, limit int64) ([]byte, error) {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("eaas: answer over %d bytes", limit)
	}
	if resp.StatusCode != http.StatusOK {
		a, err := eaas.DecodeErrorAnswer(body)
		if err != nil {
			a = eaas.ErrorAnswer{Reason: "eaas-bad-answer", Message: err.Error()}
		}
		return nil, &Refusal{Status: resp.StatusCode, ErrorAnswer: a}
	}
	if resp.Header.Get(eaas.ForwardHeader) == eaas.ForwardPlaintext {
		return nil, ErrForwardPlaintext
	}
	return body, nil
}
