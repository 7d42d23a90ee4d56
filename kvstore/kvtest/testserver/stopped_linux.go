package testserver

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// stopped reports whether every thread of process pid has stopped: /proc gives each thread's
// state, and SIGSTOP stops the threads one by one, so the first thread's state alone does not
// tell. A thread that ended (Z, X) runs no more either.
func stopped(pid int) (bool, error) {
	taskDir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(taskDir)
	if err != nil {
		return false, err
	}
	for _, task := range tasks {
		data, err := os.ReadFile(taskDir + "/" + task.Name() + "/stat")
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread ended since ReadDir
		}
		if err != nil {
			return false, err
		}
		// "tid (comm) state ...": comm may hold any byte, ')' included, so the state is found
		// after the last ')'.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 || i+2 >= len(data) {
			return false, fmt.Errorf("%s/%s/stat: cannot parse %q", taskDir, task.Name(), data)
		}
		switch data[i+2] {
		case 'T', 't', 'Z', 'X':
		default:
			return false, nil
		}
	}
	return true, nil
}
