module github.com/seed-29c11ff2/workers

go 1.26.0
