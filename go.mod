module github.com/daned/daned

go 1.26.0
