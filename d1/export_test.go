package d1

// SplitSQL exposes the statement splitter to the black-box tests: it
// returns each statement's text and parameter count, -1 when SQLite is left
// to judge the parameters.
func SplitSQL(s string) (texts []string, params []int) {
	for _, st := range splitSQL(s) {
		texts = append(texts, st.text)
		n := st.params
		if st.named || st.badIndex {
			n = -1
		}
		params = append(params, n)
	}
	return texts, params
}

// Normalize exposes the conversion of driver values to result values.
var Normalize = normalize
