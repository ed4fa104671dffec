package mockpy

// WaitingTurns is how many calls wait for their turn under WithConcurrency
// (for the specs of the turn queue: a call's in-flight record is made
// before it joins the queue).
func WaitingTurns(m *Interpreter) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.waiting)
}
