package router

import (
	"fmt"
	"strings"
)

// Method indexes into a node's per-method routes. The order is the order of the Allow header.
const (
	mGET = iota
	mPOST
	mPUT
	mPATCH
	mDELETE
	mANY
	numMethods

	// numConcrete counts the methods that can appear in an Allow header mask.
	numConcrete = mANY
	// noMethod marks a request method that only an ANY route can serve.
	noMethod = -1
)

var methodNames = [numMethods]string{"GET", "POST", "PUT", "PATCH", "DELETE", "ANY"}

// allowHeaders maps a mask of concrete methods (bit i set for method i) to its Allow header
// value, built once so that a 405 costs no allocation. GET implies HEAD, which Match serves from
// GET routes.
var allowHeaders = func() (h [1 << numConcrete]string) {
	for mask := range h {
		var names []string
		for i := range numConcrete {
			if mask&(1<<i) == 0 {
				continue
			}
			names = append(names, methodNames[i])
			if i == mGET {
				names = append(names, "HEAD")
			}
		}
		h[mask] = strings.Join(names, ", ")
	}
	return h
}()

// requestMethod returns the index of the routes that may serve a request with this method, or
// noMethod when only ANY routes may. HEAD is served by GET routes.
func requestMethod(method string) int {
	switch method {
	case "GET", "HEAD":
		return mGET
	case "POST":
		return mPOST
	case "PUT":
		return mPUT
	case "PATCH":
		return mPATCH
	case "DELETE":
		return mDELETE
	}
	return noMethod
}

// routeMethod returns the index for a route's declared method, which is case-insensitive.
func routeMethod(method string) (int, error) {
	for i, name := range methodNames {
		if strings.EqualFold(method, name) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("method %q: must be one of GET, POST, PUT, PATCH, DELETE or ANY", method)
}
