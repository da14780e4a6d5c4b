//go:build meshward_overlay

// This file replaces the SDK's proxywasm/internal/abi_hostcalls_mock.go in the
// wasip1 build (see wasm-filter/overlay.json). The SDK declares its host calls
// for TinyGo only; standard Go needs //go:wasmimport declarations whose
// parameters are wasm-sized. Go's int and pointers are 64-bit on wasip1 while
// the proxy-wasm ABI passes i32, so every size is narrowed to uint32 and every
// out-parameter goes through a package-level uint32: globals never move, while
// a stack slot may be copied if the host re-enters the guest (memory
// allocation) during the call.

package internal

import "unsafe"

var (
	outPtr  uint32
	outSize uint32
	outID   uint32
	outCas  uint32
	outU64  uint64
)

func clearOut() { outPtr, outSize, outCas = 0, 0, 0 }

// hostBytes turns an address written by the host into a Go pointer. The memory
// behind it was handed out by proxy_on_memory_allocate and is pinned there.
func hostBytes(p uint32) *byte {
	unpinAllocations()
	if p == 0 {
		return nil
	}
	return (*byte)(unsafe.Pointer(uintptr(p)))
}

//go:wasmimport env proxy_log
func proxyLog(level uint32, msg unsafe.Pointer, size uint32) uint32

func ProxyLog(logLevel LogLevel, messageData *byte, messageSize int) Status {
	return Status(proxyLog(uint32(logLevel), unsafe.Pointer(messageData), uint32(messageSize)))
}

//go:wasmimport env proxy_send_local_response
func proxySendLocalResponse(code uint32, detail unsafe.Pointer, detailSize uint32, body unsafe.Pointer, bodySize uint32,
	headers unsafe.Pointer, headersSize uint32, grpcStatus int32) uint32

func ProxySendLocalResponse(statusCode uint32, statusCodeDetailData *byte, statusCodeDetailsSize int,
	bodyData *byte, bodySize int, headersData *byte, headersSize int, grpcStatus int32) Status {
	return Status(proxySendLocalResponse(statusCode, unsafe.Pointer(statusCodeDetailData), uint32(statusCodeDetailsSize),
		unsafe.Pointer(bodyData), uint32(bodySize), unsafe.Pointer(headersData), uint32(headersSize), grpcStatus))
}

//go:wasmimport env proxy_get_shared_data
func proxyGetSharedData(key unsafe.Pointer, keySize uint32, retData, retSize, retCas unsafe.Pointer) uint32

func ProxyGetSharedData(keyData *byte, keySize int, returnValueData **byte, returnValueSize *int, returnCas *uint32) Status {
	st := proxyGetSharedData(unsafe.Pointer(keyData), uint32(keySize),
		unsafe.Pointer(&outPtr), unsafe.Pointer(&outSize), unsafe.Pointer(&outCas))
	*returnValueData, *returnValueSize, *returnCas = hostBytes(outPtr), int(outSize), outCas
	return Status(st)
}

//go:wasmimport env proxy_set_shared_data
func proxySetSharedData(key unsafe.Pointer, keySize uint32, value unsafe.Pointer, valueSize uint32, cas uint32) uint32

func ProxySetSharedData(keyData *byte, keySize int, valueData *byte, valueSize int, cas uint32) Status {
	return Status(proxySetSharedData(unsafe.Pointer(keyData), uint32(keySize), unsafe.Pointer(valueData), uint32(valueSize), cas))
}

//go:wasmimport env proxy_register_shared_queue
func proxyRegisterSharedQueue(name unsafe.Pointer, nameSize uint32, retID unsafe.Pointer) uint32

func ProxyRegisterSharedQueue(nameData *byte, nameSize int, returnID *uint32) Status {
	st := proxyRegisterSharedQueue(unsafe.Pointer(nameData), uint32(nameSize), unsafe.Pointer(&outID))
	*returnID = outID
	return Status(st)
}

//go:wasmimport env proxy_resolve_shared_queue
func proxyResolveSharedQueue(vmID unsafe.Pointer, vmIDSize uint32, name unsafe.Pointer, nameSize uint32, retID unsafe.Pointer) uint32

func ProxyResolveSharedQueue(vmIDData *byte, vmIDSize int, nameData *byte, nameSize int, returnID *uint32) Status {
	st := proxyResolveSharedQueue(unsafe.Pointer(vmIDData), uint32(vmIDSize), unsafe.Pointer(nameData), uint32(nameSize), unsafe.Pointer(&outID))
	*returnID = outID
	return Status(st)
}

//go:wasmimport env proxy_dequeue_shared_queue
func proxyDequeueSharedQueue(queueID uint32, retData, retSize unsafe.Pointer) uint32

func ProxyDequeueSharedQueue(queueID uint32, returnValueData **byte, returnValueSize *int) Status {
	clearOut()
	st := proxyDequeueSharedQueue(queueID, unsafe.Pointer(&outPtr), unsafe.Pointer(&outSize))
	*returnValueData, *returnValueSize = hostBytes(outPtr), int(outSize)
	return Status(st)
}

//go:wasmimport env proxy_enqueue_shared_queue
func proxyEnqueueSharedQueue(queueID uint32, value unsafe.Pointer, valueSize uint32) uint32

func ProxyEnqueueSharedQueue(queueID uint32, valueData *byte, valueSize int) Status {
	return Status(proxyEnqueueSharedQueue(queueID, unsafe.Pointer(valueData), uint32(valueSize)))
}

//go:wasmimport env proxy_get_header_map_value
func proxyGetHeaderMapValue(mapType uint32, key unsafe.Pointer, keySize uint32, retData, retSize unsafe.Pointer) uint32

func ProxyGetHeaderMapValue(mapType MapType, keyData *byte, keySize int, returnValueData **byte, returnValueSize *int) Status {
	clearOut()
	st := proxyGetHeaderMapValue(uint32(mapType), unsafe.Pointer(keyData), uint32(keySize), unsafe.Pointer(&outPtr), unsafe.Pointer(&outSize))
	*returnValueData, *returnValueSize = hostBytes(outPtr), int(outSize)
	return Status(st)
}

//go:wasmimport env proxy_add_header_map_value
func proxyAddHeaderMapValue(mapType uint32, key unsafe.Pointer, keySize uint32, value unsafe.Pointer, valueSize uint32) uint32

func ProxyAddHeaderMapValue(mapType MapType, keyData *byte, keySize int, valueData *byte, valueSize int) Status {
	return Status(proxyAddHeaderMapValue(uint32(mapType), unsafe.Pointer(keyData), uint32(keySize), unsafe.Pointer(valueData), uint32(valueSize)))
}

//go:wasmimport env proxy_replace_header_map_value
func proxyReplaceHeaderMapValue(mapType uint32, key unsafe.Pointer, keySize uint32, value unsafe.Pointer, valueSize uint32) uint32

func ProxyReplaceHeaderMapValue(mapType MapType, keyData *byte, keySize int, valueData *byte, valueSize int) Status {
	return Status(proxyReplaceHeaderMapValue(uint32(mapType), unsafe.Pointer(keyData), uint32(keySize), unsafe.Pointer(valueData), uint32(valueSize)))
}

//go:wasmimport env proxy_remove_header_map_value
func proxyRemoveHeaderMapValue(mapType uint32, key unsafe.Pointer, keySize uint32) uint32

func ProxyRemoveHeaderMapValue(mapType MapType, keyData *byte, keySize int) Status {
	return Status(proxyRemoveHeaderMapValue(uint32(mapType), unsafe.Pointer(keyData), uint32(keySize)))
}

//go:wasmimport env proxy_get_header_map_pairs
func proxyGetHeaderMapPairs(mapType uint32, retData, retSize unsafe.Pointer) uint32

func ProxyGetHeaderMapPairs(mapType MapType, returnValueData **byte, returnValueSize *int) Status {
	clearOut()
	st := proxyGetHeaderMapPairs(uint32(mapType), unsafe.Pointer(&outPtr), unsafe.Pointer(&outSize))
	*returnValueData, *returnValueSize = hostBytes(outPtr), int(outSize)
	return Status(st)
}

//go:wasmimport env proxy_set_header_map_pairs
func proxySetHeaderMapPairs(mapType uint32, data unsafe.Pointer, size uint32) uint32

func ProxySetHeaderMapPairs(mapType MapType, mapData *byte, mapSize int) Status {
	return Status(proxySetHeaderMapPairs(uint32(mapType), unsafe.Pointer(mapData), uint32(mapSize)))
}

//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(bufferType uint32, start, maxSize uint32, retData, retSize unsafe.Pointer) uint32

func ProxyGetBufferBytes(bufferType BufferType, start int, maxSize int, returnBufferData **byte, returnBufferSize *int) Status {
	clearOut()
	st := proxyGetBufferBytes(uint32(bufferType), uint32(start), uint32(maxSize), unsafe.Pointer(&outPtr), unsafe.Pointer(&outSize))
	*returnBufferData, *returnBufferSize = hostBytes(outPtr), int(outSize)
	return Status(st)
}

//go:wasmimport env proxy_set_buffer_bytes
func proxySetBufferBytes(bufferType uint32, start, maxSize uint32, data unsafe.Pointer, size uint32) uint32

func ProxySetBufferBytes(bufferType BufferType, start int, maxSize int, bufferData *byte, bufferSize int) Status {
	return Status(proxySetBufferBytes(uint32(bufferType), uint32(start), uint32(maxSize), unsafe.Pointer(bufferData), uint32(bufferSize)))
}

//go:wasmimport env proxy_continue_stream
func proxyContinueStream(streamType uint32) uint32

func ProxyContinueStream(streamType StreamType) Status {
	return Status(proxyContinueStream(uint32(streamType)))
}

//go:wasmimport env proxy_close_stream
func proxyCloseStream(streamType uint32) uint32

func ProxyCloseStream(streamType StreamType) Status {
	return Status(proxyCloseStream(uint32(streamType)))
}

//go:wasmimport env proxy_http_call
func proxyHttpCall(upstream unsafe.Pointer, upstreamSize uint32, headers unsafe.Pointer, headersSize uint32,
	body unsafe.Pointer, bodySize uint32, trailers unsafe.Pointer, trailersSize uint32, timeout uint32, retID unsafe.Pointer) uint32

func ProxyHttpCall(upstreamData *byte, upstreamSize int, headerData *byte, headerSize int,
	bodyData *byte, bodySize int, trailersData *byte, trailersSize int, timeout uint32, calloutIDPtr *uint32,
) Status {
	st := proxyHttpCall(unsafe.Pointer(upstreamData), uint32(upstreamSize), unsafe.Pointer(headerData), uint32(headerSize),
		unsafe.Pointer(bodyData), uint32(bodySize), unsafe.Pointer(trailersData), uint32(trailersSize), timeout, unsafe.Pointer(&outID))
	*calloutIDPtr = outID
	return Status(st)
}

//go:wasmimport env proxy_call_foreign_function
func proxyCallForeignFunction(name unsafe.Pointer, nameSize uint32, param unsafe.Pointer, paramSize uint32, retData, retSize unsafe.Pointer) uint32

func ProxyCallForeignFunction(funcNamePtr *byte, funcNameSize int, paramPtr *byte, paramSize int, returnData **byte, returnSize *int) Status {
	st := proxyCallForeignFunction(unsafe.Pointer(funcNamePtr), uint32(funcNameSize), unsafe.Pointer(paramPtr), uint32(paramSize),
		unsafe.Pointer(&outPtr), unsafe.Pointer(&outSize))
	*returnData, *returnSize = hostBytes(outPtr), int(outSize)
	return Status(st)
}

//go:wasmimport env proxy_set_tick_period_milliseconds
func proxySetTickPeriodMilliseconds(period uint32) uint32

func ProxySetTickPeriodMilliseconds(period uint32) Status {
	return Status(proxySetTickPeriodMilliseconds(period))
}

//go:wasmimport env proxy_set_effective_context
func proxySetEffectiveContext(contextID uint32) uint32

func ProxySetEffectiveContext(contextID uint32) Status {
	return Status(proxySetEffectiveContext(contextID))
}

//go:wasmimport env proxy_done
func proxyDone() uint32

func ProxyDone() Status { return Status(proxyDone()) }

//go:wasmimport env proxy_define_metric
func proxyDefineMetric(metricType uint32, name unsafe.Pointer, nameSize uint32, retID unsafe.Pointer) uint32

func ProxyDefineMetric(metricType MetricType, metricNameData *byte, metricNameSize int, returnMetricIDPtr *uint32) Status {
	st := proxyDefineMetric(uint32(metricType), unsafe.Pointer(metricNameData), uint32(metricNameSize), unsafe.Pointer(&outID))
	*returnMetricIDPtr = outID
	return Status(st)
}

//go:wasmimport env proxy_increment_metric
func proxyIncrementMetric(metricID uint32, offset int64) uint32

func ProxyIncrementMetric(metricID uint32, offset int64) Status {
	return Status(proxyIncrementMetric(metricID, offset))
}

//go:wasmimport env proxy_record_metric
func proxyRecordMetric(metricID uint32, value uint64) uint32

func ProxyRecordMetric(metricID uint32, value uint64) Status {
	return Status(proxyRecordMetric(metricID, value))
}

//go:wasmimport env proxy_get_metric
func proxyGetMetric(metricID uint32, retValue unsafe.Pointer) uint32

func ProxyGetMetric(metricID uint32, returnMetricValue *uint64) Status {
	st := proxyGetMetric(metricID, unsafe.Pointer(&outU64))
	*returnMetricValue = outU64
	return Status(st)
}

//go:wasmimport env proxy_get_property
func proxyGetProperty(path unsafe.Pointer, pathSize uint32, retData, retSize unsafe.Pointer) uint32

func ProxyGetProperty(pathData *byte, pathSize int, returnValueData **byte, returnValueSize *int) Status {
	clearOut()
	st := proxyGetProperty(unsafe.Pointer(pathData), uint32(pathSize), unsafe.Pointer(&outPtr), unsafe.Pointer(&outSize))
	*returnValueData, *returnValueSize = hostBytes(outPtr), int(outSize)
	return Status(st)
}

//go:wasmimport env proxy_set_property
func proxySetProperty(path unsafe.Pointer, pathSize uint32, value unsafe.Pointer, valueSize uint32) uint32

func ProxySetProperty(pathData *byte, pathSize int, valueData *byte, valueSize int) Status {
	return Status(proxySetProperty(unsafe.Pointer(pathData), uint32(pathSize), unsafe.Pointer(valueData), uint32(valueSize)))
}
