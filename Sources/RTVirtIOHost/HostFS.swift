import RTVirtIO
