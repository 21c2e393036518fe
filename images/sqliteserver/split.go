package main

import "strings"

// Tokens and states of SQLite's sqlite3_complete(), which the sqlite3 shell
// uses to decide when the text typed so far is a whole statement: a
// statement ends at a ';' outside quotes and comments, except inside the
// BEGIN ... END of a CREATE TRIGGER.
const (
	tkSemi = iota
	tkWS
	tkOther
	tkExplain
	tkCreate
	tkTemp
	tkTrigger
	tkEnd
)

var completeTrans = [8][8]uint8{
	/*              SEMI WS OTHER EXPLAIN CREATE TEMP TRIGGER END */
	/* 0 INVALID */ {1, 0, 2, 3, 4, 2, 2, 2},
	/* 1 START   */ {1, 1, 2, 3, 4, 2, 2, 2},
	/* 2 NORMAL  */ {1, 2, 2, 2, 2, 2, 2, 2},
	/* 3 EXPLAIN */ {1, 3, 3, 2, 4, 2, 2, 2},
	/* 4 CREATE  */ {1, 4, 2, 2, 2, 4, 5, 2},
	/* 5 TRIGGER */ {6, 5, 5, 5, 5, 5, 5, 5},
	/* 6 SEMI    */ {6, 6, 5, 5, 5, 5, 5, 7},
	/* 7 END     */ {1, 7, 5, 5, 5, 5, 5, 5},
}

func isIDChar(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// splitStatements cuts the complete statements off the front of text. Each
// statement keeps its terminating ';'. rest is what follows the last complete
// statement (an incomplete statement, or blanks). Statements that hold only
// blanks and comments are dropped.
func splitStatements(text string) (stmts []string, rest string) {
	state := uint8(0)
	start := 0
	i := 0
	for i < len(text) {
		c := text[i]
		var tok int
		switch {
		case c == ';':
			tok = tkSemi
			i++
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			tok = tkWS
			i++
		case c == '/' && i+1 < len(text) && text[i+1] == '*':
			end := strings.Index(text[i+2:], "*/")
			if end < 0 {
				return stmts, text[start:]
			}
			tok = tkWS
			i += 2 + end + 2
		case c == '-' && i+1 < len(text) && text[i+1] == '-':
			end := strings.IndexByte(text[i:], '\n')
			if end < 0 {
				return stmts, text[start:]
			}
			tok = tkWS
			i += end + 1
		case c == '[':
			end := strings.IndexByte(text[i+1:], ']')
			if end < 0 {
				return stmts, text[start:]
			}
			tok = tkOther
			i += 1 + end + 1
		case c == '`' || c == '"' || c == '\'':
			end := strings.IndexByte(text[i+1:], c)
			if end < 0 {
				return stmts, text[start:]
			}
			tok = tkOther
			i += 1 + end + 1
		case isIDChar(c):
			j := i
			for j < len(text) && isIDChar(text[j]) {
				j++
			}
			switch strings.ToLower(text[i:j]) {
			case "create":
				tok = tkCreate
			case "temp", "temporary":
				tok = tkTemp
			case "trigger":
				tok = tkTrigger
			case "explain":
				tok = tkExplain
			case "end":
				tok = tkEnd
			default:
				tok = tkOther
			}
			i = j
		default:
			tok = tkOther
			i++
		}
		state = completeTrans[state][tok]
		if tok == tkSemi && state == 1 {
			if s := text[start:i]; !blank(s) {
				stmts = append(stmts, strings.TrimSpace(s))
			}
			start = i
			state = 0
		}
	}
	return stmts, text[start:]
}

// blank reports whether s holds nothing but blanks, comments and ';'.
func blank(s string) bool {
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ';' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && i+1 < len(s) && s[i+1] == '-':
			end := strings.IndexByte(s[i:], '\n')
			if end < 0 {
				return true
			}
			i += end + 1
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return false
			}
			i += 2 + end + 2
		default:
			return false
		}
	}
	return true
}
