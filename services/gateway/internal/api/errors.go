package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	CodeMethodNotAllowed = "method_not_allowed"
	CodeUnavailable      = "unavailable"
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
	switch {
	case errors.As(err, &maxErr):
		abort(c, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("request body is larger than %d bytes", maxErr.Limit))
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

var errInvalidJSON = errors.New("invalid JSON")

// decodeJSON reads exactly one JSON value into v, refusing unknown fields
// and trailing data, with messages that point at the problem.
func decodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var maxErr *http.MaxBytesError
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &maxErr):
			return err
		case errors.Is(err, io.EOF):
			return fmt.Errorf("%w: request body is empty", errInvalidJSON)
		case errors.As(err, &syn):
			return fmt.Errorf("%w: malformed JSON at byte %d: %v", errInvalidJSON, syn.Offset, syn)
		case errors.As(err, &typ):
			return fmt.Errorf("%w: field %q must be %s, got %s", errInvalidJSON, typ.Field, typ.Type, typ.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return fmt.Errorf("%w: %s", errInvalidJSON, strings.TrimPrefix(err.Error(), "json: "))
		default:
			return fmt.Errorf("%w: %v", errInvalidJSON, err)
		}
	}
	if dec.More() {
		return fmt.Errorf("%w: unexpected data after the JSON object", errInvalidJSON)
	}
	return nil
}
