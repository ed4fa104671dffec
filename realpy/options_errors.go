package realpy

import "fmt"

// OptionError says an option was given to a constructor it does not apply
// to, given there in a combination it cannot take (Given is one of Where,
// Reason says what is missing), or given a value it cannot take (Reason
// alone: what was given and what is accepted).
type OptionError struct {
	Option string // e.g. "WithSize"
	Given  string // the constructor it was given to, e.g. "StartPool"; "" for a value it cannot take
	Where  string // the constructors it applies to, e.g. "StartZygote, StartPool"; "" when it applies where given
	Reason string // what was given and what is accepted, when there is more to say

	given, where target
}

// optionError returns the *OptionError for option given to target, which
// applies to where.
func optionError(option string, given, where target, reason string) *OptionError {
	e := &OptionError{Option: option, Reason: reason, given: given, where: where}
	if given != 0 {
		e.Given = given.String()
	}
	if where != 0 {
		e.Where = where.String()
	}
	return e
}

func (e *OptionError) Error() string {
	switch {
	case e.given == 0 && e.where == 0:
		return fmt.Sprintf("realpy: option %s: %s", e.Option, e.Reason)
	case e.where == 0 || e.given&e.where != 0:
		// It applies here, but not like this: saying "does not apply to X;
		// it applies to X" would contradict itself.
		return fmt.Sprintf("realpy: option %s on %s: %s", e.Option, e.Given, e.Reason)
	}
	msg := fmt.Sprintf("realpy: option %s does not apply to %s; it applies to %s", e.Option, e.Given, e.Where)
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg
}

// checkOptions returns an *OptionError for the first option that does not
// apply to target; backends that take realpy options call it.
func checkOptions(target target, opts ...Option) error {
	for _, o := range opts {
		if o.apply == nil {
			return optionError("Option{}", target, 0, "given the zero Option; it takes the options that the With functions of package realpy return")
		}
		if !o.appliesTo(target) {
			return optionError(o.name, target, o.targets, "")
		}
	}
	return nil
}
