package wrangler

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// cronParser reads the five fields of a Cloudflare cron trigger: minute,
// hour, day of month, month and day of week, with names (JAN, MON) and
// *, ',', '-' and '/'. Descriptors such as @daily are not Cloudflare syntax.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// errCronExtension marks a schedule that uses Cloudflare's Quartz-style
// extensions, L, W and #, which the parser does not know.
var errCronExtension = errors.New("uses L, W or #, Cloudflare extensions that are not supported here")

// ParseCron parses the schedule of a cron trigger, which runs in UTC as on
// Cloudflare, with github.com/robfig/cron/v3. Day-of-week numbers are read
// as standard cron reads them, 0 to 6 from Sunday; names (SUN-SAT) read the
// same everywhere.
func ParseCron(spec string) (sched cron.Schedule, err error) {
	fields := strings.Fields(spec)
	switch {
	case strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ="):
		return nil, errors.New("cron triggers run in UTC; a time zone cannot be given")
	case len(fields) != 5:
		return nil, fmt.Errorf("has %d fields, want 5: minute hour day-of-month month day-of-week", len(fields))
	case strings.ContainsAny(fields[2], "LWlw") || strings.ContainsAny(fields[4], "#lL"):
		return nil, errCronExtension
	}
	defer func() {
		if v := recover(); v != nil { // a parser bug must not take the process down
			sched, err = nil, fmt.Errorf("cannot be parsed: %v", v)
		}
	}()
	sched, err = cronParser.Parse(strings.Join(fields, " "))
	if err != nil {
		return nil, err
	}
	sched.(*cron.SpecSchedule).Location = time.UTC
	// Days that do not exist (February 30) would never fire.
	if sched.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, errors.New("never fires: no day matches it")
	}
	return sched, nil
}
