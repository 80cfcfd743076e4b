COMMENT
Gap: the example circuit's gap junction (circuitflow, Apache-2.0), with the interface neurodamus
uses: g (nS, set from the SONATA conductance) and vgap, the other side's voltage, set through
ParallelContext.target_var. i = g (v - vgap).
ENDCOMMENT

NEURON {
    POINT_PROCESS Gap
    RANGE g, i, vgap, synapseID, selected_for_report
    NONSPECIFIC_CURRENT i
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (nS) = (nanosiemens)
}

PARAMETER {
    g = 1 (nS)
    synapseID = 0
    selected_for_report = 0
}

ASSIGNED {
    v (mV)
    vgap (mV)
    i (nA)
}

BREAKPOINT {
    i = (v - vgap) * g * 1e-3
}
