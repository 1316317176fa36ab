# SPDX-License-Identifier: LGPL-2.1-or-later
# A Packer template (HCL2; Debian 12's Packer 1.6.6) that installs Windows
# from an ISO with the qemu builder and, once the VM is off and before the
# disk is handed on, runs kmsprep on it from the Packer host (docs/scale.md).
# Packer 1.10 and later no longer bundle the qemu builder: first run
# `packer plugins install github.com/hashicorp/qemu`.
#
#   packer build -var iso_url=... -var iso_checksum=sha256:... \
#     -var autounattend=Autounattend.xml -var kms_host=kms.example.com \
#     contrib/packer/kmsprep.pkr.hcl
#
# kmsprep works on the disk image, offline: no WinRM, no SSH, nothing
# installed in the guest, so the build needs no communicator at all.
# Packer waits for Windows to power itself off: your answer file ends the
# setup with `shutdown /s /t 0`, a full shutdown.  kmsprep refuses (exit 4)
# a hibernated or Fast Startup volume (`shutdown /hybrid`, the Start menu's
# Shut down with Fast Startup on) and an unclean one: the build then fails,
# with nothing written to the image.
# Not run in this project's CI: it needs an ISO and hours of emulation;
# tests/t2270-packer.sh checks the template and its kmsprep options.

variable "iso_url" {
  type = string
}

variable "iso_checksum" {
  type        = string
  description = "the ISO's checksum, e.g. sha256:..."
}

variable "autounattend" {
  type        = string
  description = "an Autounattend.xml that installs Windows and shuts it down"
}

variable "kms_host" {
  type        = string
  description = "NAME or NAME:PORT, as kmsprep image set --kms-host takes it"
}

# clone: the disk is copied as it is, and each copy rearms at its first
# boot.  sysprep: whatever deploys the image seals it with sysprep
# /generalize (which rearms once SkipRearm is 0).  An image sealed already
# is refused by image generalize: the answer file must not run sysprep.
variable "generalize_mode" {
  type    = string
  default = "clone"
}

variable "output_directory" {
  type    = string
  default = "output-windows"
}

locals {
  disk = "${var.output_directory}/windows.qcow2"
}

source "qemu" "windows" {
  iso_url          = var.iso_url
  iso_checksum     = var.iso_checksum
  floppy_files     = [var.autounattend] # Setup reads A:\Autounattend.xml
  output_directory = var.output_directory
  vm_name          = "windows.qcow2"
  format           = "qcow2"
  disk_size        = "40G"
  disk_interface   = "ide" # drivers Windows Setup has without extras
  net_device       = "e1000"
  memory           = 4096
  cpus             = 2
  headless         = true
  communicator     = "none"
  shutdown_timeout = "3h" # the whole install, up to its own shutdown
}

build {
  sources = ["source.qemu.windows"]

  # A post-processor, not a provisioner: provisioners run while the VM is
  # up, and kmsprep refuses an image in use by a running VM (exit 4).
  post-processor "shell-local" {
    environment_vars = [
      "DISK=${local.disk}",
      "KMS_HOST=${var.kms_host}",
      "MODE=${var.generalize_mode}",
    ]
    # Not volume-license media?  Use kmsprep image set --gvlk auto.
    inline = [
      "kmsprep image set --kms-host \"$KMS_HOST\" \"$DISK\"",
      "kmsprep image generalize --mode \"$MODE\" \"$DISK\"",
      "kmsprep image show \"$DISK\"",
    ]
  }
}
