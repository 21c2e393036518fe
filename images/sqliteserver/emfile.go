package main

import "syscall"

var syscallEMFILE error = syscall.EMFILE
