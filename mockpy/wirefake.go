package mockpy

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/pyharness/pyharness/wire"
)

// Pipe returns one end of an in-memory connection whose other end the mock
// serves at the wire level (Serve): hand it to realpy.NewClient to run the
// real client code against the mock. Closing it ends the serving goroutine.
func (m *Interpreter) Pipe() net.Conn {
	client, server := net.Pipe()
	go func() { _ = m.Serve(server) }()
	return client
}

// Serve speaks the protocol of PROTOCOL.md on conn, as a worker: it reads
// request frames, answers each with the mock's handlers, and writes response
// frames, until EOF, shutdown, or a fault that ends a real worker (a crash
// closes the connection without an answer, a hang holds the call until the
// client gives up, garbage writes a malformed frame). It closes conn.
func (m *Interpreter) Serve(conn net.Conn) error {
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	requests := make(chan *wire.Request)
	readErr := make(chan error, 1)
	go func() { // reads ahead so that a client hanging up cancels the call in progress
		defer cancel()
		for {
			payload, err := wire.ReadFrame(conn, m.maxFrame)
			if err == nil {
				var req *wire.Request
				if req, err = wire.DecodeRequest(payload); err == nil {
					select {
					case requests <- req:
						continue
					case <-ctx.Done():
						return
					}
				}
			}
			readErr <- err
			return
		}
	}()
	for {
		var req *wire.Request
		select {
		case req = <-requests:
		case err := <-readErr:
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
				return nil
			}
			return err
		}
		callCtx := ctx
		if req.Session != "" {
			callCtx = wire.WithSession(ctx, req.Session)
		}
		result, err := m.invoke(callCtx, req.Method, req.Args)
		resp := wire.Response{ID: req.ID, OK: err == nil, Result: result}
		var pyErr *wire.PythonError
		switch {
		case err == nil:
		case errors.As(err, &pyErr):
			resp.Error = &wire.ErrorObject{Kind: pyErr.Kind, Type: pyErr.Type, Message: pyErr.Message, Traceback: pyErr.Traceback}
		case errors.Is(err, wire.ErrProtocol):
			return writeRaw(conn, []byte("{this is not json"))
		default: // the worker is gone: a crash, a killed hang, a closed mock
			return nil
		}
		payload, encErr := wire.EncodeResponse(resp)
		if encErr != nil {
			return encErr
		}
		if err := wire.WriteFrame(conn, payload, m.maxFrame); err != nil {
			return err
		}
		if req.Method == "shutdown" && m.builtins {
			return nil
		}
	}
}

func writeRaw(conn net.Conn, body []byte) error {
	frame, err := wire.AppendFrame(nil, body, len(body))
	if err != nil {
		return err
	}
	_, err = conn.Write(frame)
	return err
}
