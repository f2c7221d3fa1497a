package image

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// fatBPB is the part of a FAT32 boot sector that fixes the volume's geometry.
type fatBPB struct {
	BytesPerSector    uint16
	SectorsPerCluster uint8
	ReservedSectors   uint16
	FATs              uint8
	HiddenSectors     uint32
	TotalSectors      uint32
	SectorsPerFAT     uint32
}

// Offsets in a FAT32 boot sector (Microsoft FAT specification, BPB).
const (
	bpbHiddenSectors  = 0x1c
	fat32BackupSector = 6 // where go-diskfs and mkfs.fat put the boot sector's copy
)

// Clusters returns the number of data clusters.
func (b fatBPB) Clusters() uint32 {
	used := uint64(b.ReservedSectors) + uint64(b.FATs)*uint64(b.SectorsPerFAT)
	if uint64(b.TotalSectors) < used || b.SectorsPerCluster == 0 {
		return 0
	}
	return uint32((uint64(b.TotalSectors) - used) / uint64(b.SectorsPerCluster))
}

// parseFAT32 reads and checks the FAT32 boot sector at the start of sector
// (at least 512 bytes): a file system that firmware and Linux read as FAT32
// with a FAT that has an entry for every cluster.
func parseFAT32(sector []byte) (fatBPB, error) {
	if len(sector) < 512 {
		return fatBPB{}, fmt.Errorf("boot sector: %d bytes, expected 512", len(sector))
	}
	if sector[510] != 0x55 || sector[511] != 0xaa {
		return fatBPB{}, errors.New("boot sector: no 55 AA signature")
	}
	le := binary.LittleEndian
	b := fatBPB{
		BytesPerSector:    le.Uint16(sector[0x0b:]),
		SectorsPerCluster: sector[0x0d],
		ReservedSectors:   le.Uint16(sector[0x0e:]),
		FATs:              sector[0x10],
		HiddenSectors:     le.Uint32(sector[bpbHiddenSectors:]),
		TotalSectors:      le.Uint32(sector[0x20:]),
		SectorsPerFAT:     le.Uint32(sector[0x24:]),
	}
	rootEntries, total16, fat16Size := le.Uint16(sector[0x11:]), le.Uint16(sector[0x13:]), le.Uint16(sector[0x16:])
	switch {
	case b.BytesPerSector != 512 && b.BytesPerSector != 4096:
		return b, fmt.Errorf("boot sector: %d bytes per sector, expected 512 or 4096", b.BytesPerSector)
	case b.SectorsPerCluster == 0 || b.SectorsPerCluster&(b.SectorsPerCluster-1) != 0:
		return b, fmt.Errorf("boot sector: %d sectors per cluster, expected a power of two", b.SectorsPerCluster)
	case b.ReservedSectors == 0 || b.FATs == 0:
		return b, fmt.Errorf("boot sector: %d reserved sectors and %d FATs, expected at least one of each", b.ReservedSectors, b.FATs)
	case rootEntries != 0 || total16 != 0 || fat16Size != 0:
		return b, errors.New("boot sector: FAT12/16 fields set, expected FAT32")
	}
	// Microsoft's rule, which UEFI's FAT driver follows: the cluster
	// count alone decides the FAT type.
	c := b.Clusters()
	if c < 65525 {
		return b, fmt.Errorf("boot sector: %d clusters, expected at least 65525 for FAT32", c)
	}
	if entries := uint64(b.SectorsPerFAT) * uint64(b.BytesPerSector) / 4; entries < uint64(c)+2 {
		return b, fmt.Errorf("boot sector: FAT has %d entries for %d clusters, expected at least %d", entries, c, uint64(c)+2)
	}
	return b, nil
}

// fitsFAT reports whether go-diskfs (v1.9.4) lays out a FAT32 volume of
// sectors 512-byte sectors with a FAT large enough for all its clusters. Its
// sectors-per-FAT formula comes out up to two entries short for some sizes
// (1 MiB multiples among them: 64 MiB gives 129024 clusters and 129024
// entries), which dosfstools rejects; layout steps around those sizes and
// writeDisk checks the result with parseFAT32.
func fitsFAT(sectors uint64) bool {
	const reserved = 32
	spc := uint64(1) // cluster size by volume size, as go-diskfs and mkfs.fat pick it
	switch size := sectors * sectorSize; {
	case size > 32<<30:
		spc = 64
	case size > 16<<30:
		spc = 32
	case size > 8<<30:
		spc = 16
	case size > 260<<20:
		spc = 8
	}
	denom := sectorSize*spc + 8
	perFAT := (4*(sectors-reserved) + denom - 1) / denom
	clusters := (sectors - reserved - 2*perFAT) / spc
	return perFAT*sectorSize/4 >= clusters+2 && clusters >= 65525
}

// Directory entry layout (32 bytes).
const (
	direntSize     = 32
	direntAttr     = 0x0b
	direntClusHi   = 0x14
	direntClusLo   = 0x1a
	attrVolumeID   = 0x08
	attrDirectory  = 0x10
	attrLongName   = 0x0f
	fatEntryMask   = 0x0fffffff
	fatEndOfChain  = 0x0ffffff8
	fsInfoLeadSig  = 0x41615252
	fsInfoStrucSig = 0x61417272
)

// finishFAT32 completes the FAT32 file system that go-diskfs wrote into the
// partition at sector start of rw, so that fsck.fat finds nothing to fix:
//   - HiddenSectors in the boot sector and its backup is the partition's
//     first sector, as mkfs.fat writes it (go-diskfs writes 0);
//   - the ".." entry of each directory in the root points at cluster 0, as
//     the FAT specification requires (go-diskfs writes the root's cluster
//     number), and every ".." carries its directory's "." timestamps
//     (go-diskfs writes an unset time for the root, an invalid date);
//   - FSInfo holds the real free-cluster count and next-free hint (go-diskfs
//     leaves both "unknown").
//
// It refuses a file system whose geometry parseFAT32 rejects.
func finishFAT32(rw interface {
	io.ReaderAt
	io.WriterAt
}, start, sectors uint64) error {
	v, err := openFAT32(rw, int64(start*sectorSize))
	if err != nil {
		return err
	}
	if uint64(v.bpb.TotalSectors) != sectors {
		return fmt.Errorf("boot sector: %d sectors, expected the partition's %d", v.bpb.TotalSectors, sectors)
	}
	if err := v.fixDotDot(v.root, 0, map[uint32]bool{}); err != nil {
		return err
	}
	free, next := uint32(0), uint32(0xffffffff)
	for c := uint32(2); c < v.bpb.Clusters()+2; c++ {
		if binary.LittleEndian.Uint32(v.fat[4*c:])&fatEntryMask == 0 {
			free++
			next = min(next, c)
		}
	}
	le := binary.LittleEndian
	for _, boot := range []uint32{0, v.backup} {
		b, err := v.sector(boot)
		if err != nil {
			return err
		}
		if _, err := parseFAT32(b); err != nil {
			return fmt.Errorf("sector %d: %w", boot, err)
		}
		le.PutUint32(b[bpbHiddenSectors:], uint32(start))
		if err := v.writeSector(boot, b); err != nil {
			return err
		}
		info, err := v.sector(boot + uint32(v.fsInfo))
		if err != nil {
			return err
		}
		if le.Uint32(info[0:]) != fsInfoLeadSig || le.Uint32(info[484:]) != fsInfoStrucSig {
			return fmt.Errorf("FSInfo sector %d: bad signature", boot+uint32(v.fsInfo))
		}
		le.PutUint32(info[488:], free)
		le.PutUint32(info[492:], next)
		if err := v.writeSector(boot+uint32(v.fsInfo), info); err != nil {
			return err
		}
	}
	return nil
}

// fat32Volume is a FAT32 file system opened for finishFAT32.
type fat32Volume struct {
	rw interface {
		io.ReaderAt
		io.WriterAt
	}
	base   int64 // byte offset of the boot sector in rw
	bpb    fatBPB
	root   uint32
	fsInfo uint16 // sector of FSInfo, relative to its boot sector
	backup uint32 // sector of the backup boot sector
	fat    []byte // the first FAT
}

func openFAT32(rw interface {
	io.ReaderAt
	io.WriterAt
}, base int64) (*fat32Volume, error) {
	v := &fat32Volume{rw: rw, base: base}
	b := make([]byte, sectorSize)
	if _, err := rw.ReadAt(b, base); err != nil {
		return nil, fmt.Errorf("boot sector: %w", err)
	}
	bpb, err := parseFAT32(b)
	if err != nil {
		return nil, err
	}
	if bpb.BytesPerSector != sectorSize {
		return nil, fmt.Errorf("boot sector: %d bytes per sector, expected %d", bpb.BytesPerSector, sectorSize)
	}
	le := binary.LittleEndian
	v.bpb, v.root = bpb, le.Uint32(b[0x2c:])
	v.fsInfo, v.backup = le.Uint16(b[0x30:]), uint32(le.Uint16(b[0x32:]))
	if v.fsInfo == 0 || v.backup == 0 || uint32(v.fsInfo)+v.backup >= uint32(bpb.ReservedSectors) {
		return nil, fmt.Errorf("boot sector: FSInfo at %d, backup at %d, expected both inside the %d reserved sectors", v.fsInfo, v.backup, bpb.ReservedSectors)
	}
	if !v.valid(v.root) {
		return nil, fmt.Errorf("boot sector: root cluster %d out of range", v.root)
	}
	v.fat = make([]byte, 4*(uint64(bpb.Clusters())+2))
	if _, err := rw.ReadAt(v.fat, base+int64(bpb.ReservedSectors)*sectorSize); err != nil {
		return nil, fmt.Errorf("FAT: %w", err)
	}
	return v, nil
}

func (v *fat32Volume) valid(c uint32) bool { return c >= 2 && c < v.bpb.Clusters()+2 }

func (v *fat32Volume) sector(s uint32) ([]byte, error) {
	b := make([]byte, sectorSize)
	if _, err := v.rw.ReadAt(b, v.base+int64(s)*sectorSize); err != nil {
		return nil, fmt.Errorf("sector %d: %w", s, err)
	}
	return b, nil
}

func (v *fat32Volume) writeSector(s uint32, b []byte) error {
	if _, err := v.rw.WriteAt(b, v.base+int64(s)*sectorSize); err != nil {
		return fmt.Errorf("sector %d: %w", s, err)
	}
	return nil
}

func (v *fat32Volume) clusterOffset(c uint32) int64 {
	data := int64(v.bpb.ReservedSectors) + int64(v.bpb.FATs)*int64(v.bpb.SectorsPerFAT)
	return v.base + (data+int64(c-2)*int64(v.bpb.SectorsPerCluster))*sectorSize
}

// chain returns the clusters of the chain that starts at c.
func (v *fat32Volume) chain(c uint32) ([]uint32, error) {
	var out []uint32
	for {
		if !v.valid(c) {
			return nil, fmt.Errorf("cluster chain: cluster %d out of range", c)
		}
		if len(out) > int(v.bpb.Clusters()) {
			return nil, errors.New("cluster chain: loops")
		}
		out = append(out, c)
		next := binary.LittleEndian.Uint32(v.fat[4*c:]) & fatEntryMask
		if next >= fatEndOfChain {
			return out, nil
		}
		c = next
	}
}

// fixDotDot walks the directory at cluster dir, whose parent directory is at
// cluster parent (0 for the root), and fixes the ".." entries below it.
func (v *fat32Volume) fixDotDot(dir, parent uint32, seen map[uint32]bool) error {
	if seen[dir] {
		return fmt.Errorf("directory at cluster %d reached twice", dir)
	}
	seen[dir] = true
	clusters, err := v.chain(dir)
	if err != nil {
		return err
	}
	csize := int(v.bpb.SectorsPerCluster) * sectorSize
	buf := make([]byte, len(clusters)*csize)
	for i, c := range clusters {
		if _, err := v.rw.ReadAt(buf[i*csize:(i+1)*csize], v.clusterOffset(c)); err != nil {
			return fmt.Errorf("directory cluster %d: %w", c, err)
		}
	}
	le := binary.LittleEndian
	if dir != v.root {
		if len(buf) < 2*direntSize || string(buf[0:11]) != ".          " || string(buf[direntSize:direntSize+11]) != "..         " {
			return fmt.Errorf("directory at cluster %d: no . and .. entries", dir)
		}
		dot, dotdot := buf[:direntSize], buf[direntSize:2*direntSize]
		want := parent
		if parent == v.root {
			want = 0
		}
		le.PutUint16(dotdot[direntClusHi:], uint16(want>>16))
		le.PutUint16(dotdot[direntClusLo:], uint16(want))
		copy(dotdot[0x0d:0x14], dot[0x0d:0x14]) // creation time and date, access date
		copy(dotdot[0x16:0x1a], dot[0x16:0x1a]) // write time and date
		if _, err := v.rw.WriteAt(buf[:csize], v.clusterOffset(clusters[0])); err != nil {
			return fmt.Errorf("directory cluster %d: %w", clusters[0], err)
		}
	}
	for off := 0; off+direntSize <= len(buf); off += direntSize {
		e := buf[off : off+direntSize]
		switch {
		case e[0] == 0:
			return nil
		case e[0] == 0xe5, e[direntAttr] == attrLongName, e[direntAttr]&attrVolumeID != 0, e[direntAttr]&attrDirectory == 0:
			continue
		case e[0] == '.':
			continue
		}
		child := uint32(le.Uint16(e[direntClusHi:]))<<16 | uint32(le.Uint16(e[direntClusLo:]))
		if err := v.fixDotDot(child, dir, seen); err != nil {
			return err
		}
	}
	return nil
}
