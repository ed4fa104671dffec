package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// Request is the envelope Go sends: {"id", "method", "args"} plus the optional
// "session" and "deadline_ms" (Unix milliseconds, advisory for handlers).
type Request struct {
	ID         uint64          `json:"id"`
	Method     string          `json:"method"`
	Args       json.RawMessage `json:"args"`
	Session    string          `json:"session,omitempty"`
	DeadlineMS int64           `json:"deadline_ms,omitempty"`
	// Stream > 0 asks for the answer as a stream: the worker may send that
	// many items before the caller grants more with a $credit frame.
	Stream int `json:"stream,omitempty"`
	// Behind marks a request written while another call of the connection
	// ran (PROTOCOL.md, Pipelining): a worker that lists "pipeline" looks
	// for its $cancel before it starts it.
	Behind bool `json:"behind,omitempty"`
}

// Response is the envelope a worker sends back: {"id", "ok": true, "result"}
// or {"id", "ok": false, "error"}.
type Response struct {
	ID     uint64          `json:"id"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *ErrorObject    `json:"error,omitempty"`
	// Frames a worker sends for a call before its final response: an item
	// of a stream ({"id", "item"}), or a call into Go ({"id", "callback"}).
	// A final response has neither.
	Item     json.RawMessage `json:"item,omitempty"`
	Callback *CallbackFrame  `json:"callback,omitempty"`

	unchecked []byte // PeekResponse: the whole payload, its result not validated yet
	// A segmented reply whose result is one segment (segment.go): Result
	// is its reference, the segment is decoded by DecodeResult.
	seg *segment
}

// CallbackFrame is a handler's call of a Go function during a call: the
// caller answers it with a $return control frame carrying Seq.
type CallbackFrame struct {
	Seq  uint64          `json:"seq"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

// Final reports whether r is a call's final response (not an item or a
// callback).
func (r *Response) Final() bool { return r.Item == nil && r.Callback == nil }

// Control frames: what the caller sends the worker while a call runs.
const (
	ControlCredit = "$credit" // args: how many more items the caller takes
	ControlCancel = "$cancel" // the caller gave up: close the stream, cancel the task
	ControlReturn = "$return" // args: a Return, the answer to a Callback
)

// Return is the answer to a Callback: Result when OK, else Error (its Type
// and Message reach Python as a GoError).
type Return struct {
	Seq    uint64          `json:"seq"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *ErrorObject    `json:"error,omitempty"`
}

// AppendControl appends a control frame's envelope for call id to dst.
func AppendControl(dst []byte, id uint64, method string, args any) ([]byte, error) {
	raw, err := Marshal(args)
	if err != nil {
		return nil, err
	}
	return AppendRequest(dst, Request{ID: id, Method: method, Args: raw})
}

// ErrorObject is the "error" member of a failed response.
type ErrorObject struct {
	Kind      string `json:"kind"`
	Type      string `json:"type"`
	Message   string `json:"message"`
	Traceback string `json:"traceback,omitempty"`
}

// Error kinds carried in ErrorObject.Kind.
const (
	KindException      = "exception"      // a handler raised; Type is the exception class
	KindUnknownMethod  = "unknown_method" // no handler of that name
	KindUnserializable = "unserializable" // the result could not be encoded as JSON
	KindTooLarge       = "too_large"      // the reply would exceed the frame limit
	KindBadRequest     = "bad_request"    // the request envelope was malformed
	KindCancelled      = "cancelled"      // the caller cancelled the call (stream, async handler, callback)
)

// EncodeRequest encodes a request envelope; a nil Args is sent as null.
// Args must be valid JSON (as Marshal returns).
func EncodeRequest(req Request) ([]byte, error) {
	return AppendRequest(nil, req)
}

// AppendRequest appends the encoded request envelope to dst, req.Args as
// they are. It builds the envelope by hand (AppendRequestArgs, the hot
// path of every call).
func AppendRequest(dst []byte, req Request) ([]byte, error) {
	return AppendRequestArgs(dst, req, req.Args)
}

// AppendRequestArgs is AppendRequest with args marshaled (as Marshal does)
// straight into dst, in place of req.Args: the same bytes, without the
// intermediate copy of the arguments. A string or []byte costs nothing
// beyond dst's growth.
func AppendRequestArgs(dst []byte, req Request, args any) ([]byte, error) {
	if err := checkEnvelopeText(req.Method, req.Session); err != nil {
		return nil, err // utf8.go
	}
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, req.ID, 10)
	dst = append(dst, `,"method":`...)
	dst, _ = appendQuoted(dst, req.Method) // checked above
	dst = append(dst, `,"args":`...)
	switch x := args.(type) {
	case nil:
		dst = append(dst, "null"...)
	case json.RawMessage: // as it is (AppendRequest's req.Args)
		if x == nil {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, x...)
		}
	case string:
		var bad int
		if dst, bad = appendQuoted(dst, x); bad >= 0 {
			return nil, invalidText("value", x)
		}
	case int:
		dst = strconv.AppendInt(dst, int64(x), 10)
	case int64:
		dst = strconv.AppendInt(dst, x, 10)
	case bool:
		dst = strconv.AppendBool(dst, x)
	default:
		raw, err := Marshal(args)
		if err != nil {
			return nil, err
		}
		dst = append(dst, raw...)
	}
	if req.Session != "" {
		dst = append(dst, `,"session":`...)
		dst, _ = appendQuoted(dst, req.Session)
	}
	if req.DeadlineMS != 0 {
		dst = append(dst, `,"deadline_ms":`...)
		dst = strconv.AppendInt(dst, req.DeadlineMS, 10)
	}
	if req.Stream > 0 {
		dst = append(dst, `,"stream":`...)
		dst = strconv.AppendInt(dst, int64(req.Stream), 10)
	}
	if req.Behind { // last: a client marks a frame it encoded before as behind by appending it
		dst = append(dst, `,"behind":true`...)
	}
	return append(dst, '}'), nil
}

// EncodeResponse encodes a response envelope; a successful response with a
// nil Result carries null.
func EncodeResponse(resp Response) ([]byte, error) {
	if resp.seg != nil {
		result, err := appendSegmentJSON(nil, 0, *resp.seg)
		if err != nil {
			return nil, err
		}
		resp.Result, resp.seg = result, nil
	}
	if resp.OK && resp.Result == nil {
		resp.Result = json.RawMessage("null")
	}
	return json.Marshal(resp)
}

// DecodeResponse parses and validates one response envelope. Anything that is
// not a valid envelope is a *ProtocolError.
func DecodeResponse(payload []byte) (*Response, error) {
	if isSegmented(payload) {
		return decodeSegmentedResponse(payload)
	}
	if resp, ok := decodeCanonicalSuccess(payload); ok {
		return resp, nil
	}
	return decodeResponse(payload)
}

// PeekResponse is DecodeResponse for a reader that decodes the result
// itself: a successful reply in the worker's canonical form is split without
// scanning its result, which DecodeResult (or Check) validates while
// decoding it, so a large result is scanned once here, not twice. A reply
// that turns out not to be canonical is decoded in full then, as
// DecodeResponse would have.
func PeekResponse(payload []byte) (*Response, error) {
	if isSegmented(payload) {
		return decodeSegmentedResponse(payload)
	}
	if resp, ok := splitCanonicalSuccess(payload); ok {
		resp.unchecked = payload
		return resp, nil
	}
	return decodeResponse(payload)
}

// PeekResponseInto is PeekResponse into r, which the caller owns (a reader
// that reuses one Response for its own replies): a successful reply in the
// worker's canonical form allocates nothing. r's earlier contents are
// replaced; r aliases payload until its result is decoded.
func PeekResponseInto(payload []byte, r *Response) error {
	if isSegmented(payload) {
		full, err := decodeSegmentedResponse(payload)
		if err != nil {
			return err
		}
		*r = *full
		return nil
	}
	if id, result, ok := splitCanonical(payload); ok {
		*r = Response{ID: id, OK: true, Result: json.RawMessage(result), unchecked: payload}
		return nil
	}
	full, err := decodeResponse(payload)
	if err != nil {
		return err
	}
	*r = *full
	return nil
}

// Check validates a response of PeekResponse (a no-op for others): a
// *ProtocolError when the payload is not a valid envelope.
func (r *Response) Check() error {
	if r.seg != nil {
		return checkSegment(0, *r.seg)
	}
	if r.unchecked == nil || validJSON(r.Result) {
		r.unchecked = nil
		return nil
	}
	return r.reparse()
}

// DecodeResult decodes a successful response's result into v (nil: only
// validate), exactly as Unmarshal does. For a response of PeekResponse a
// malformed payload is a *ProtocolError, as DecodeResponse would have said.
func (r *Response) DecodeResult(v any) error {
	if r.seg != nil {
		return decodeSegment(0, *r.seg, v)
	}
	if r.unchecked == nil {
		return Unmarshal(r.Result, v)
	}
	if v == nil {
		return r.Check()
	}
	err := Unmarshal(r.Result, v)
	if err == nil || validJSON(r.Result) { // a result that does not fit v is the caller's error
		r.unchecked = nil
		return err
	}
	if err := r.reparse(); err != nil {
		return err
	}
	return Unmarshal(r.Result, v)
}

// reparse decodes the whole payload with the general decoder.
func (r *Response) reparse() error {
	full, err := decodeResponse(r.unchecked)
	if err != nil {
		return err
	}
	*r = *full
	return nil
}

// decodeSegmentedResponse decodes a segmented reply: a successful reply in
// the worker's canonical form whose result is one segment keeps it for
// DecodeResult (no copy, no escape); any other is resolved into the plain
// reply it stands for and decoded as that.
func decodeSegmentedResponse(payload []byte) (*Response, error) {
	env, segs, refs, err := splitSegmented(payload)
	if err != nil {
		return nil, err
	}
	if len(refs) == 1 {
		if id, result, ok := splitCanonical(env); ok && len(result) == refs[0].end-refs[0].start && &result[0] == &env[refs[0].start] {
			return &Response{ID: id, OK: true, Result: json.RawMessage(result), seg: &segs[0]}, nil
		}
	}
	plain, err := resolveRefs(env, segs, refs)
	if err != nil {
		return nil, err
	}
	return DecodeResponse(plain)
}

// errTrailing: a value followed by more than white space.
var errTrailing = errors.New("data after the value")

// decodeCanonicalSuccess is the fast path for a successful reply in the
// exact form the Python worker writes, {"id":N,"ok":true,"result":R}; any
// other form takes the general decoder.
func decodeCanonicalSuccess(payload []byte) (*Response, bool) {
	resp, ok := splitCanonicalSuccess(payload)
	if !ok || !validJSON(resp.Result) {
		return nil, false
	}
	return resp, true
}

// splitCanonicalSuccess splits a reply of the canonical form without
// validating its result.
func splitCanonicalSuccess(payload []byte) (*Response, bool) {
	id, result, ok := splitCanonical(payload)
	if !ok {
		return nil, false
	}
	return &Response{ID: id, OK: true, Result: json.RawMessage(result)}, true
}

// splitCanonical splits a successful reply in the worker's canonical form
// into its id and result (not validated).
func splitCanonical(payload []byte) (id uint64, result []byte, ok bool) {
	const prefix, middle = `{"id":`, `,"ok":true,"result":`
	if !bytes.HasPrefix(payload, []byte(prefix)) || payload[len(payload)-1] != '}' {
		return 0, nil, false
	}
	rest := payload[len(prefix):]
	n := 0
	for n < len(rest) && n < 20 && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 || (n > 1 && rest[0] == '0') {
		return 0, nil, false
	}
	id, err := strconv.ParseUint(string(rest[:n]), 10, 64)
	if err != nil || !bytes.HasPrefix(rest[n:], []byte(middle)) {
		return 0, nil, false
	}
	return id, rest[n+len(middle) : len(rest)-1], true
}

func decodeResponse(payload []byte) (*Response, error) {
	var raw struct {
		ID       *uint64         `json:"id"`
		OK       *bool           `json:"ok"`
		Result   json.RawMessage `json:"result"`
		Error    *ErrorObject    `json:"error"`
		Item     json.RawMessage `json:"item"`
		Callback *CallbackFrame  `json:"callback"`
	}
	if err := decodeStrict(payload, &raw); err != nil {
		return nil, &ProtocolError{Reason: "response is not a valid JSON envelope", Frame: excerpt(payload), Err: err}
	}
	switch {
	case raw.ID == nil:
		return nil, &ProtocolError{Reason: `response has no numeric "id"`, Frame: excerpt(payload)}
	case raw.OK == nil && raw.Item != nil:
		return &Response{ID: *raw.ID, Item: raw.Item}, nil
	case raw.OK == nil && raw.Callback != nil:
		if raw.Callback.Seq == 0 { // an empty name is answered UnknownCallback (StartCallback)
			return nil, &ProtocolError{Reason: `callback has no "seq"`, Frame: excerpt(payload)}
		}
		if raw.Callback.Args == nil {
			raw.Callback.Args = json.RawMessage("null")
		}
		return &Response{ID: *raw.ID, Callback: raw.Callback}, nil
	case raw.OK == nil:
		return nil, &ProtocolError{Reason: `response has no boolean "ok"`, Frame: excerpt(payload)}
	case *raw.OK && raw.Result == nil:
		return nil, &ProtocolError{Reason: `successful response has no "result"`, Frame: excerpt(payload)}
	case !*raw.OK && (raw.Error == nil || raw.Error.Kind == "" || raw.Error.Type == ""):
		return nil, &ProtocolError{Reason: `failed response has no "error" with "kind" and "type"`, Frame: excerpt(payload)}
	}
	resp := &Response{ID: *raw.ID, OK: *raw.OK, Result: raw.Result, Error: raw.Error}
	if resp.OK {
		resp.Error = nil
	}
	return resp, nil
}

// DecodeRequest parses and validates one request envelope.
func DecodeRequest(payload []byte) (*Request, error) {
	payload, err := Resolve(payload)
	if err != nil {
		return nil, err
	}
	var raw struct {
		ID         *uint64         `json:"id"`
		Method     *string         `json:"method"`
		Args       json.RawMessage `json:"args"`
		Session    string          `json:"session"`
		DeadlineMS int64           `json:"deadline_ms"`
		Stream     int             `json:"stream"`
		Behind     bool            `json:"behind"`
	}
	if err := decodeStrict(payload, &raw); err != nil {
		return nil, &ProtocolError{Reason: "request is not a valid JSON envelope", Frame: excerpt(payload), Err: err}
	}
	if raw.ID == nil {
		return nil, &ProtocolError{Reason: `request has no numeric "id"`, Frame: excerpt(payload)}
	}
	if raw.Method == nil || *raw.Method == "" {
		return nil, &ProtocolError{Reason: `request has no "method"`, Frame: excerpt(payload)}
	}
	if raw.Args == nil {
		raw.Args = json.RawMessage("null")
	}
	return &Request{ID: *raw.ID, Method: *raw.Method, Args: raw.Args, Session: raw.Session, DeadlineMS: raw.DeadlineMS, Stream: raw.Stream, Behind: raw.Behind}, nil
}

// decodeStrict decodes exactly one JSON value into v (json.Unmarshal
// rejects data after the value).
func decodeStrict(payload []byte, v any) error {
	return json.Unmarshal(payload, v)
}
