package wrangler

import "fmt"

// A DurableObjectBinding is an entry of durable_objects.bindings: a
// Durable Object namespace in the worker's env.
type DurableObjectBinding struct {
	Name       string // name in the worker's env; required
	ClassName  string // the class; required
	ScriptName string // the worker that exports the class; "" = this one
}

// A Migration is an entry of migrations: the Durable Object classes one
// deployment creates. Only creating classes is supported.
type Migration struct {
	Tag              string // required
	NewClasses       []string
	NewSQLiteClasses []string
}

var (
	durableObjectsKeys = []string{"bindings"}
	doBindingKeys      = []string{"name", "class_name", "script_name"}
	migrationKeys      = []string{"tag", "new_classes", "new_sqlite_classes"}
	// unsupportedMigrationKeys change classes that exist: an error, not a
	// warning, since ignoring one would silently keep or lose data.
	unsupportedMigrationKeys = map[string]string{
		"renamed_classes":     "renaming a Durable Object class",
		"deleted_classes":     "deleting a Durable Object class",
		"transferred_classes": "transferring a Durable Object class",
	}
)

func (d *decoder) durableObjects(obj map[string]any) ([]DurableObjectBinding, error) {
	p := top.key("durable_objects")
	v, ok := obj["durable_objects"]
	if !ok {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, d.typeError(p, d.table(), v)
	}
	entries, err := d.tables(m, p.key("bindings"))
	if err != nil {
		return nil, err
	}
	if err := d.unknownKeys(m, p, durableObjectsKeys, nil); err != nil {
		return nil, err
	}
	out := make([]DurableObjectBinding, len(entries))
	for i, e := range entries {
		ep, b := p.key("bindings").item(i), &out[i]
		if b.Name, err = d.requiredString(e, ep, "name"); err != nil {
			return nil, err
		}
		if b.ClassName, err = d.requiredString(e, ep, "class_name"); err != nil {
			return nil, err
		}
		if b.ScriptName, err = d.optionalString(e, ep, "script_name"); err != nil {
			return nil, err
		}
		if err := d.unknownKeys(e, ep, doBindingKeys, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (d *decoder) migrations(obj map[string]any) ([]Migration, error) {
	p := top.key("migrations")
	entries, err := d.tables(obj, p)
	if err != nil || entries == nil {
		return nil, err
	}
	out := make([]Migration, len(entries))
	tags := map[string]int{}
	for i, e := range entries {
		ep, m := p.item(i), &out[i]
		for _, k := range sortedKeys(e) {
			if what, ok := unsupportedMigrationKeys[k]; ok {
				return nil, d.errorf(ep.key(k), "%s is not supported: this runtime keeps each object's storage under its class name; move the data yourself and list only new_classes or new_sqlite_classes", what)
			}
		}
		if m.Tag, err = d.requiredString(e, ep, "tag"); err != nil {
			return nil, err
		}
		if j, dup := tags[m.Tag]; dup {
			return nil, d.errorf(ep.key("tag"), "tag %q is already used by migrations[%d]", m.Tag, j)
		}
		tags[m.Tag] = i
		if m.NewClasses, err = d.stringArray(e, ep, "new_classes"); err != nil {
			return nil, err
		}
		if m.NewSQLiteClasses, err = d.stringArray(e, ep, "new_sqlite_classes"); err != nil {
			return nil, err
		}
		if err := d.unknownKeys(e, ep, migrationKeys, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkDurable rejects a class created twice by the migrations.
func (d *decoder) checkDurable(f *File) error {
	created := map[string]string{}
	for i, m := range f.Migrations {
		for _, list := range []struct {
			key     string
			classes []string
		}{{"new_classes", m.NewClasses}, {"new_sqlite_classes", m.NewSQLiteClasses}} {
			for j, c := range list.classes {
				p := top.key("migrations").item(i).key(list.key).item(j)
				if c == "" {
					return d.errorf(p, "must not be empty")
				}
				if prev, ok := created[c]; ok {
					return d.errorf(p, "class %q is already created by %s", c, prev)
				}
				created[c] = fmt.Sprintf("migrations[%d].%s", i, list.key)
			}
		}
	}
	return nil
}
