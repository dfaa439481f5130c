package esp
