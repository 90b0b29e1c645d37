package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/services/gateway/internal/store"
)

// Error codes in {"error":{"code","message"}}.
const (
	CodeBadRequest       = "bad_request"
	CodeInvalidJSON      = "invalid_json"
	CodeValidation       = "validation_failed"
	CodeUnauthenticated  = "unauthenticated"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeConflict         = "conflict"
	CodeAlreadyExists    = "already_exists"
	CodeTooLarge         = "payload_too_large"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeRequestTimeout   = "request_timeout"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeUnavailable      = "unavailable"
	CodeTooManyRequests  = "too_many_requests"
	CodeQuotaExceeded    = "quota_exceeded"
	CodeQueueFull        = "queue_full"
	CodeFunctionFailed   = "function_failed"
	CodeTimeout          = "timeout"
	CodeInternal         = "internal"
)

// ErrorBody is the JSON shape of every error.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the code and message of an error.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func abort(c *gin.Context, status int, code, msg string) {
	c.Abort()
	c.PureJSON(status, ErrorBody{ErrorDetail{code, msg}})
}

// fail maps an error from the layers below to a status and code.
func (a *API) fail(c *gin.Context, err error) {
	var maxErr *http.MaxBytesError
	if status, code, ok := secretError(err); ok {
		abort(c, status, code, err.Error())
		return
	}
	switch {
	case errors.As(err, &maxErr):
		abort(c, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("request body is larger than %d bytes", maxErr.Limit))
	case errors.Is(err, errBodyTimeout):
		abort(c, http.StatusRequestTimeout, CodeRequestTimeout, err.Error())
	case errors.Is(err, errBodyRead), errors.Is(err, errCallbackURL):
		abort(c, http.StatusBadRequest, CodeBadRequest, err.Error())
	case errors.Is(err, errUnsupportedMedia):
		abort(c, http.StatusUnsupportedMediaType, CodeUnsupportedMedia, err.Error())
	case errors.Is(err, errInvalidJSON):
		abort(c, http.StatusBadRequest, CodeInvalidJSON, err.Error())
	case errors.Is(err, function.ErrInvalid):
		abort(c, http.StatusBadRequest, CodeValidation, err.Error())
	case errors.Is(err, auth.ErrInvalidRequest):
		abort(c, http.StatusBadRequest, CodeBadRequest, err.Error())
	case errors.Is(err, store.ErrNotFound):
		abort(c, http.StatusNotFound, CodeNotFound, err.Error())
	case errors.Is(err, store.ErrConflict):
		abort(c, http.StatusConflict, CodeConflict, err.Error())
	case errors.Is(err, store.ErrExists):
		abort(c, http.StatusPreconditionFailed, CodeAlreadyExists, err.Error())
	default:
		a.Log.ErrorContext(c.Request.Context(), "request failed", "route", c.FullPath(), "err", err)
		abort(c, http.StatusInternalServerError, CodeInternal, "internal error; see the gateway's logs")
	}
}

var (
	errInvalidJSON      = errors.New("invalid JSON")
	errUnsupportedMedia = errors.New("unsupported media type")
	// errBodyRead and errBodyTimeout: the body itself could not be read
	// (broken chunked framing, the client went away, or it did not arrive
	// within the server's read timeout). The client's fault, never a 500.
	errBodyRead    = errors.New("the request body could not be read")
	errBodyTimeout = errors.New("the request body did not arrive in time")
)

// readJSON decodes the request body of a JSON endpoint into v after
// checking its Content-Type (jsonContentType).
func readJSON(c *gin.Context, v any) error {
	if err := jsonContentType(c.Request.Header); err != nil {
		return err
	}
	return decodeJSON(c.Request.Body, v)
}

// jsonContentType accepts the Content-Types a JSON body arrives with:
// none, application/json, any application/*+json (RFC 6839), and
// application/x-www-form-urlencoded, which is what curl -d sends unless told
// otherwise (the README's examples rely on it; the body is read as JSON
// all the same). Anything else (text/plain, YAML, XML, multipart, ...) is
// a client sending the wrong thing, answered 415 rather than a confusing
// JSON syntax error. A charset, if given, must be UTF-8 (RFC 8259).
func jsonContentType(h http.Header) error {
	ct := h.Get("Content-Type")
	if strings.TrimSpace(ct) == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	// A malformed parameter still leaves the type to judge by.
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		return fmt.Errorf("%w: Content-Type %q is not a media type; send application/json", errUnsupportedMedia, truncate(ct))
	}
	switch {
	case mt == "application/json", mt == "application/x-www-form-urlencoded",
		strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
	default:
		return fmt.Errorf("%w: Content-Type %s: this endpoint takes a JSON body (application/json)", errUnsupportedMedia, truncate(mt))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		return fmt.Errorf("%w: charset %q: JSON bodies are UTF-8", errUnsupportedMedia, truncate(cs))
	}
	return nil
}

// bodyReader remembers the error of the reader it wraps, so a failure to
// read the body is told apart from a body that is not JSON.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// readBody reads a whole request body (up to limitBody's cap).
func readBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, bodyError(err)
	}
	return b, nil
}

// bodyError classifies an error reading the request body: too large (413,
// kept as *http.MaxBytesError), too slow (408) or otherwise unreadable (400).
func bodyError(err error) error {
	var maxErr *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &maxErr):
		return err
	case errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("%w: send it within the server's read timeout", errBodyTimeout)
	default:
		return fmt.Errorf("%w: %v", errBodyRead, err)
	}
}

// decodeJSON reads exactly one JSON object into v: whitespace may follow
// it, nothing else may (a stray "}" or a second value would otherwise be
// ignored and the request acted on). Unknown fields are refused too, and
// the messages point at the problem.
func decodeJSON(r io.Reader, v any) error {
	br := &bodyReader{r: r}
	dec := json.NewDecoder(br)
	// The value is read whole first, so trailing data is checked before
	// anything is decoded into v.
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		if br.err != nil {
			return bodyError(br.err)
		}
		var syn *json.SyntaxError
		switch {
		case errors.Is(err, io.EOF):
			return fmt.Errorf("%w: request body is empty", errInvalidJSON)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return fmt.Errorf("%w: the body ends in the middle of a JSON value", errInvalidJSON)
		case errors.As(err, &syn):
			return fmt.Errorf("%w: malformed JSON at byte %d: %v", errInvalidJSON, syn.Offset, syn)
		default:
			return fmt.Errorf("%w: %v", errInvalidJSON, err)
		}
	}
	end := dec.InputOffset()
	// Token reads past whitespace: io.EOF means nothing else was sent.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if br.err != nil {
			return bodyError(br.err)
		}
		return fmt.Errorf("%w: unexpected data after the JSON value, at byte %d: the body must be one JSON object", errInvalidJSON, end)
	}
	if bytes.Equal(raw, []byte("null")) {
		// Decoding null into a struct is a no-op: it would act as {}.
		return fmt.Errorf("%w: the body must be a JSON object, not null", errInvalidJSON)
	}
	vdec := json.NewDecoder(bytes.NewReader(raw))
	vdec.DisallowUnknownFields()
	if err := vdec.Decode(v); err != nil {
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typ) && typ.Field == "":
			return fmt.Errorf("%w: the body must be a JSON object, not %s", errInvalidJSON, typ.Value)
		case errors.As(err, &typ):
			return fmt.Errorf("%w: field %q must be %s, got %s", errInvalidJSON, typ.Field, typ.Type, typ.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return fmt.Errorf("%w: %s", errInvalidJSON, strings.TrimPrefix(err.Error(), "json: "))
		default:
			return fmt.Errorf("%w: %v", errInvalidJSON, err)
		}
	}
	return nil
}
