// Client: the call table: routing each response read to the call waiting for it.

package realpy

import (
	"fmt"

	"github.com/pyharness/pyharness/wire"
)

// dispatch hands a reply to the call or probe waiting for it (a pipelined
// client's reader, or a slot holder reading a reply that is not its own),
// drops a late reply to a request given up on, and reports a reply nobody
// asked for as a protocol violation.
func (c *Client) dispatch(resp *wire.Response) error {
	c.mu.Lock()
	ch, ok := c.pending[resp.ID]
	delete(c.pending, resp.ID)
	late := c.ignored[resp.ID]
	delete(c.ignored, resp.ID)
	c.mu.Unlock()
	switch {
	case ok:
		ch <- resp
	case !late:
		return &wire.ProtocolError{Reason: fmt.Sprintf("reply to id %d, which no request carried", resp.ID)}
	}
	return nil
}

func (c *Client) register(id uint64) chan *wire.Response {
	ch := make(chan *wire.Response, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	return ch
}

func (c *Client) unregister(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// abandon stops waiting for the reply to id; if it comes, it is dropped.
func (c *Client) abandon(id uint64) {
	c.mu.Lock()
	if _, still := c.pending[id]; still {
		delete(c.pending, id)
		c.ignored[id] = true
	}
	c.mu.Unlock()
}
