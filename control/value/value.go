// Package value implements the value types of RouterOS properties: how text typed on the
// console or sent over the API is validated and turned into the canonical text that print
// and export show and the store keeps.
//
// Values are stored as canonical strings, as the RouterOS API carries them; a Type knows how
// to parse, canonicalise and (optionally) order them.
package value

import (
	"errors"
	"fmt"
)

// Type is the type of one property.
type Type interface {
	// Name names the type in help text, e.g. "time" or "integer [0..65535]".
	Name() string
	// Parse validates s and returns its canonical form. Errors are ErrInvalid, ErrNoMatch
	// or *RangeError (possibly wrapped); the caller adds the property name.
	Parse(s string) (string, error)
}

// Comparer is implemented by types whose values have an order (numbers, times,
// addresses), so that where-expressions and API queries compare them by value.
type Comparer interface {
	// Compare returns -1, 0 or 1 for canonical values a and b.
	Compare(a, b string) int
}

// Lister is implemented by types with a fixed set of words (enums), for tab completion.
type Lister interface {
	Values() []string
}

var (
	// ErrInvalid: the text does not have the syntax of the type
	// ("invalid value for argument X").
	ErrInvalid = errors.New("invalid value")
	// ErrNoMatch: the text is not one of an enum's values
	// ("input does not match any value of X").
	ErrNoMatch = errors.New("input does not match any value")
)

// RangeError reports a well-formed value outside its bounds
// ("value of X out of range (MIN..MAX)").
type RangeError struct{ Min, Max string }

func (e *RangeError) Error() string { return fmt.Sprintf("out of range (%s..%s)", e.Min, e.Max) }

// Message renders err as RouterOS reports a bad value of property prop.
func Message(prop string, err error) string {
	var re *RangeError
	switch {
	case errors.As(err, &re):
		return fmt.Sprintf("value of %s out of range (%s..%s)", prop, re.Min, re.Max)
	case errors.Is(err, ErrNoMatch):
		return "input does not match any value of " + prop
	default:
		return "invalid value for argument " + prop
	}
}
