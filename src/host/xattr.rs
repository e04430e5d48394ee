//! Copying extended attributes (SELinux labels and the like) from a file
//! being replaced to its replacement.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

fn list(fd: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: buf is a valid writable buffer of buf.len() bytes and fd is open.
        let n = unsafe { libc::flistxattr(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            buf.truncate(n as usize);
            break;
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ERANGE) => buf.resize(buf.len() * 4, 0),
            Some(libc::ENOTSUP) => return Ok(Vec::new()),
            _ => return Err(err),
        }
    }
    Ok(buf
        .split(|b| *b == 0)
        .filter(|name| !name.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

fn get(fd: BorrowedFd<'_>, name: &std::ffi::CStr) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: name is NUL-terminated, buf is writable for buf.len() bytes.
        let n = unsafe { libc::fgetxattr(fd.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(buf);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ERANGE) {
            buf.resize(buf.len() * 4, 0);
        } else {
            return Err(err);
        }
    }
}

/// Copies every extended attribute of `from` onto `to`. File systems without
/// xattr support are not an error.
pub fn copy_all(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<()> {
    for name in list(from)? {
        let cname = std::ffi::CString::new(name).map_err(io::Error::other)?;
        let value = get(from, &cname)?;
        // SAFETY: cname is NUL-terminated and value is a valid buffer.
        let rc = unsafe {
            libc::fsetxattr(
                to.as_raw_fd(),
                cname.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::ENOTSUP) {
                return Err(err);
            }
        }
    }
    Ok(())
}
