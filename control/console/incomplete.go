package console

import "strings"

// Incomplete reports whether src ends inside a construct that continues on the next
// line: an open {, [ or (, an open string, or a line ending in a continuation
// backslash. The interactive console then shows a continuation prompt and reads on, and
// import verbose keeps reading lines before it runs a statement. It is a bracket count,
// not a parser: the parser still judges what is complete and well-formed.
func Incomplete(src string) bool {
	depth, inStr, lineStart := 0, false, true
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '\n':
			lineStart = true
			continue
		case ' ', '\t', '\r':
			continue
		case '#':
			// A comment starts a line (or follows ';') and runs to its end.
			if lineStart {
				for i < len(src) && src[i] != '\n' {
					i++
				}
				i--
				continue
			}
		case '\\':
			if i+1 < len(src) && src[i+1] == '\n' {
				i++
				continue // joined line: not a new line start
			}
			if i+1 == len(src) || strings.TrimRight(src[i+1:], " \t\r") == "" {
				return true
			}
			i++
		case '"':
			inStr = true
		case '{', '[', '(':
			depth++
		case '}', ']', ')':
			if depth > 0 {
				depth--
			}
		}
		lineStart = c == ';'
	}
	return depth > 0 || inStr
}
